"""Storage in a local folder: atomic writes via a temp file in the same folder + ``os.replace``."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.fs as pafs

from pipeline.errors import StorageKeyError
from pipeline.io.storage.base import (
    ObjectInfo,
    Storage,
    check_key,
    check_prefix,
    is_temp_key,
    temp_name,
)

log = logging.getLogger(__name__)


class LocalStorage(Storage):
    """Objects are files under ``root``; the folder is created if missing."""

    def __init__(self, root: str | Path) -> None:
        path = Path(root).expanduser().resolve()
        if path.exists() and not path.is_dir():
            raise ValueError(f"storage root is not a folder: {str(path)!r}")
        path.mkdir(parents=True, exist_ok=True)
        self._root = path
        self.root = str(path)

    def _path(self, key: str) -> Path:
        return self._root.joinpath(*check_key(key).split("/"))

    def uri(self, key: str) -> str:
        """Absolute path of ``key``."""
        return str(self._path(key))

    def exists(self, key: str) -> bool:
        """True if a file (not a folder) is stored at ``key``."""
        return self._path(key).is_file()

    def list(self, prefix: str = "", suffixes: tuple[str, ...] | None = None) -> list[ObjectInfo]:
        """Files whose key starts with ``prefix``, recursive, sorted, temp files skipped."""
        check_prefix(prefix)
        folder = prefix.rpartition("/")[0]
        base = self._root.joinpath(*folder.split("/")) if folder else self._root
        if not base.is_dir():
            return []
        found = []
        for dirpath, _dirs, files in os.walk(base):
            rel_dir = Path(dirpath).relative_to(self._root).as_posix()
            for name in files:
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if not key.startswith(prefix) or is_temp_key(key):
                    continue
                if suffixes is not None and not key.endswith(tuple(suffixes)):
                    continue
                found.append(self._info(key, Path(dirpath, name)))
        return sorted((i for i in found if i is not None), key=lambda i: i.key)

    def sweep_temp(self, prefix: str) -> list[str]:
        """Delete ``.tmp-*`` files under ``prefix`` (left by a killed writer); their keys."""
        check_prefix(prefix)
        folder = prefix.rpartition("/")[0]
        base = self._root.joinpath(*folder.split("/")) if folder else self._root
        swept = []
        for dirpath, _dirs, files in os.walk(base) if base.is_dir() else ():
            rel_dir = Path(dirpath).relative_to(self._root).as_posix()
            for name in files:
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix) and is_temp_key(key):
                    Path(dirpath, name).unlink(missing_ok=True)
                    swept.append(key)
        if swept:
            log.warning("removed %d temp files left under %s by an interrupted run", len(swept),
                        base)  # fmt: skip
        return sorted(swept)

    @staticmethod
    def _info(key: str, path: Path) -> ObjectInfo | None:
        """Stat one file; None if it vanished between the walk and the stat."""
        try:
            st = path.stat()
        except FileNotFoundError:
            log.debug("file vanished while listing: %s", path)
            return None
        return ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, tz=UTC))

    def read_bytes(self, key: str) -> bytes:
        """File content; StorageKeyError if missing."""
        path = self._path(key)
        if not path.is_file():
            raise StorageKeyError(str(path))
        return path.read_bytes()

    def write_bytes(self, key: str, data: bytes) -> None:
        """Write to a temp file beside the target, fsync, then rename over it."""
        with self.writer_path(key) as tmp, open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())

    def put_file(self, key: str, local_path: str | Path) -> None:
        """Copy ``local_path`` to a temp file beside the target, then rename over it."""
        src = Path(local_path)
        if not src.is_file():
            raise FileNotFoundError(f"source file to store does not exist: {str(src)!r}")
        with self.writer_path(key) as tmp:
            shutil.copyfile(src, tmp)

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """Yield the stored file itself (do not modify it)."""
        path = self._path(key)
        if not path.is_file():
            raise StorageKeyError(str(path))
        yield path

    @contextmanager
    def writer_path(self, key: str, suffix: str = "") -> Iterator[Path]:
        """Yield a temp path in the target's folder; ``os.replace`` it onto the key on exit."""
        final = self._path(key)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(temp_name(final.name, suffix))
        try:
            yield tmp
            if not tmp.is_file():
                raise FileNotFoundError(f"writer_path block did not create {str(tmp)!r}")
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        log.debug("published %s", final)

    def delete(self, key: str, *, missing_ok: bool = False) -> None:
        """Remove one file and the folders it leaves empty."""
        path = self._path(key)
        try:
            path.unlink()
        except (FileNotFoundError, IsADirectoryError) as err:
            if not missing_ok:
                raise StorageKeyError(str(path)) from err
            return
        self._prune_empty(path.parent)

    def delete_prefix(self, prefix: str) -> int:
        """Remove listed files under ``prefix`` and the folders left empty."""
        infos = self.list(prefix)
        for info in infos:
            self._path(info.key).unlink(missing_ok=True)
        for folder in sorted({self._path(i.key).parent for i in infos}, reverse=True):
            self._prune_empty(folder)
        log.info("deleted %d objects under %s", len(infos), self.root + "/" + prefix)
        return len(infos)

    def _prune_empty(self, folder: Path) -> None:
        """Remove empty folders from ``folder`` up to (not including) the root."""
        while folder != self._root and self._root in folder.parents:
            try:
                folder.rmdir()
            except OSError:  # not empty (or already gone): stop climbing
                return
            folder = folder.parent

    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        """pyarrow's local filesystem and the absolute root path."""
        return pafs.LocalFileSystem(), self._root.as_posix()
