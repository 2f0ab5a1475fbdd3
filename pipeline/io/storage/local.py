"""Storage in a local folder: atomic writes via a temp file in the same folder + ``os.replace``.

Nothing outside the root is ever read or written: a key whose path leads out of the root
through a symbolic link (a linked file or folder inside the store) raises
``StorageKeyNameError``; :meth:`LocalStorage.list` reports such links (``escapes_root``) without
following them, and never descends into linked folders (their targets are listed where they
are, or are outside). Temp files that a killed writer of this host left in a folder are removed
the first time this storage writes into that folder again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.fs as pafs

from pipeline.errors import StorageKeyError, StorageKeyNameError
from pipeline.io.names import printable
from pipeline.io.storage.base import (
    ObjectInfo,
    Storage,
    check_key,
    check_prefix,
    is_temp_key,
    temp_name,
    temp_owner_dead,
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
        self._swept: set[Path] = set()  # folders already cleared of dead writers' temp files

    def _path(self, key: str) -> Path:
        """The key's path under the root, lexically (symbolic links not resolved)."""
        return self._root.joinpath(*check_key(key).split("/"))

    def _inside(self, path: Path) -> bool:
        return path == self._root or self._root in path.parents

    def _safe_path(self, key: str, *, follow: bool = True) -> Path:
        """The key's path, refused if it resolves outside the root. ``follow=False`` checks
        the folders only (the last part itself is replaced or removed, never followed)."""
        path = self._path(key)
        resolved = self._resolve(path, key) if follow else self._resolve(path.parent, key)
        if not self._inside(resolved):
            raise StorageKeyNameError(key, f"leads outside the store root {self.root}")
        return path

    @staticmethod
    def _resolve(path: Path, key: str) -> Path:
        try:
            return path.resolve()
        except (OSError, RuntimeError) as err:  # a symbolic link loop (RuntimeError in 3.11)
            raise StorageKeyNameError(key, f"cannot be resolved ({err})") from err

    def uri(self, key: str) -> str:
        """Absolute path of ``key``."""
        return str(self._path(key))

    def exists(self, key: str) -> bool:
        """True if a file (not a folder) is stored at ``key``."""
        return self._safe_path(key).is_file()

    def list(self, prefix: str = "", suffixes: tuple[str, ...] | None = None) -> list[ObjectInfo]:
        """Files whose key starts with ``prefix``, recursive, sorted, temp files skipped."""
        check_prefix(prefix)
        folder = prefix.rpartition("/")[0]
        base = self._root.joinpath(*folder.split("/")) if folder else self._root
        if not base.is_dir():
            return []
        if not self._inside(self._resolve(base, prefix)):
            log.warning("not listing %s: its folder leads outside the root", base)
            return []  # (the link itself is listed, escapes_root, by a listing above it)
        found = []
        def unlistable(err: OSError) -> None:  # e.g. permission denied: say so, go on
            log.warning("cannot list %s (%s): its files are not taken",
                        printable(str(err.filename)), err.strerror or err)  # fmt: skip

        for dirpath, dirs, files in os.walk(base, onerror=unlistable):  # never follows links
            rel_dir = Path(dirpath).relative_to(self._root).as_posix()
            linked = [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]
            for name in (*files, *linked):
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if not key.startswith(prefix) or is_temp_key(key):
                    continue
                if suffixes is not None and not key.endswith(tuple(suffixes)):
                    continue
                found.append(self._info(key, Path(dirpath, name), folder=name in linked))
        return sorted((i for i in found if i is not None), key=lambda i: i.key)

    def info(self, key: str) -> ObjectInfo | None:
        """The entry ``list`` gives for ``key`` (a file, or a link out of the root with
        ``escapes_root``), or None: nothing there, a folder, a linked folder inside the root."""
        path = self._path(key)
        is_link = path.is_symlink()
        if not is_link and not path.is_file():
            return None
        return self._info(key, path, folder=is_link and path.is_dir())

    def sweep_temp(self, prefix: str) -> list[str]:
        """Delete ``.tmp-*`` files under ``prefix`` (left by a killed writer); their keys."""
        check_prefix(prefix)
        folder = prefix.rpartition("/")[0]
        base = self._root.joinpath(*folder.split("/")) if folder else self._root
        swept = []
        walk = os.walk(base, topdown=False) if self._inside(self._resolve(base, prefix)) else ()
        for dirpath, dirs, files in walk:
            rel_dir = Path(dirpath).relative_to(self._root).as_posix()
            for name in files:
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix) and is_temp_key(key):
                    Path(dirpath, name).unlink(missing_ok=True)
                    swept.append(key)
            for name in dirs:  # a temp folder (e.g. an export's) left empty by the sweep
                key = name if rel_dir == "." else f"{rel_dir}/{name}"
                if key.startswith(prefix) and is_temp_key(key):
                    with contextlib.suppress(OSError):  # not empty (a link, ...): keep it
                        Path(dirpath, name).rmdir()
        if swept:
            log.warning("removed %d temp files left under %s by an interrupted run", len(swept),
                        base)  # fmt: skip
        return sorted(swept)

    def _info(self, key: str, path: Path, *, folder: bool = False) -> ObjectInfo | None:
        """Stat one file, or a linked folder (listed only if it leads out of the root); None if
        it vanished between the walk and the stat. A link out of the root is never followed:
        its own size and mtime are reported, with ``escapes_root``."""
        try:
            if path.is_symlink() and not self._inside(self._resolve(path, key)):
                st = path.lstat()
                mtime = datetime.fromtimestamp(st.st_mtime, tz=UTC)
                return ObjectInfo(key, st.st_size, mtime, escapes_root=True)
            if folder:  # a linked folder inside the root: its target is listed where it is
                log.debug("not following folder link %s (inside the root)", path)
                return None
            st = path.stat()
        except FileNotFoundError:
            if path.is_symlink():  # a dangling link inside the root: reported, unreadable
                st = path.lstat()
                return ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, tz=UTC))
            log.debug("file vanished while listing: %s", path)
            return None
        except (OSError, StorageKeyNameError) as err:  # a link loop, a permission error
            log.debug("cannot stat %s while listing: %s", path, err)
            st = path.lstat()
        return ObjectInfo(key, st.st_size, datetime.fromtimestamp(st.st_mtime, tz=UTC))

    def read_bytes(self, key: str) -> bytes:
        """File content; StorageKeyError if missing."""
        path = self._safe_path(key)
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
        path = self._safe_path(key)
        if not path.is_file():
            raise StorageKeyError(str(path))
        yield path

    @contextmanager
    def writer_path(self, key: str, suffix: str = "") -> Iterator[Path]:
        """Yield a temp path in the target's folder; ``os.replace`` it onto the key on exit."""
        final = self._safe_path(key, follow=False)
        final.parent.mkdir(parents=True, exist_ok=True)
        self._sweep_dead_writers(final.parent)
        tmp = final.with_name(temp_name(final.name, suffix))
        try:
            yield tmp
            if not tmp.is_file():
                raise FileNotFoundError(f"writer_path block did not create {str(tmp)!r}")
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        log.debug("published %s", final)

    def _sweep_dead_writers(self, folder: Path) -> None:
        """Remove temp files in ``folder`` whose writer (a process of this host) is dead;
        each folder once per storage object (a rerun after a kill cleans as it writes)."""
        if folder in self._swept:
            return
        self._swept.add(folder)
        with os.scandir(folder) as entries:
            stale = [
                e.path
                for e in entries
                if e.is_file(follow_symlinks=False) and temp_owner_dead(e.name)
            ]
        for path in stale:
            Path(path).unlink(missing_ok=True)
        if stale:
            log.info("removed %d temp files a killed writer left in %s", len(stale), folder)

    def delete(self, key: str, *, missing_ok: bool = False) -> None:
        """Remove one file (a link itself, never its target) and the folders left empty."""
        path = self._safe_path(key, follow=False)
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
            self._safe_path(info.key, follow=False).unlink(missing_ok=True)
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
