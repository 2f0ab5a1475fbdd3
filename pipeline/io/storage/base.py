"""The storage contract shared by local folders and S3: keys, object info, errors, the ABC.

Keys are '/'-separated paths relative to a storage root (``"tables/x/date=2026-01-01/a.parquet"``).
Writes are atomic: a reader sees either the old object, the new one, or nothing. Files of
in-flight writes carry the :data:`TMP_PREFIX` name prefix (or are ``.<name>.<random>.tmp`` files
of the writers that replace a file in place) and are never listed.

A key never leaves its root: :func:`check_key` refuses absolute keys, ``.``/``..`` and empty
segments, NUL and the reserved temp names (``StorageKeyNameError``, a ``ValueError``, naming the
key); a local store also refuses a key whose path leads out of the root through a symbolic
link. A backslash is an ordinary character (a POSIX file name may hold one), never a separator.

Temp names carry their writer (a short host digest and the process id, see :func:`temp_name`),
so a later writer on the same host can remove what a killed one left (:func:`temp_owner_dead`).
"""

from __future__ import annotations

import hashlib
import os
import re
import socket
import uuid
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow.fs as pafs

from pipeline.errors import StorageKeyNameError

TMP_PREFIX = ".tmp-"
"""Name prefix of temp files of in-flight writes; ``list()`` skips any key with such a part."""
_MAX_TEMP_TAIL = 120  # bytes of the target's name kept in a temp name (file names: 255 max)
_OWNER_RE = re.compile(r"^\.+tmp-h([0-9a-f]{6})p(\d+)-")


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its key relative to the storage root, size in bytes, UTC mtime.

    ``escapes_root``: the key is a symbolic link (local folders only) whose target lies outside
    the storage root; it is listed so that it can be reported, and can never be read.
    """

    key: str
    size: int
    mtime: datetime
    escapes_root: bool = False


def join_key(*parts: str) -> str:
    """Join key parts with '/', dropping empty parts and stray slashes.

    >>> join_key("tables/", "/clips", "a.parquet")
    'tables/clips/a.parquet'

    Raises ``StorageKeyNameError`` (a ValueError) for '.' or '..' segments, which would escape
    or alias the root.
    """
    segments: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            raise StorageKeyNameError(part, "key part must be str")
        segments.extend(s for s in part.split("/") if s)
    bad = [s for s in segments if s in (".", "..")]
    if bad:
        raise StorageKeyNameError("/".join(segments), f"contains relative segment {bad[0]!r}")
    return "/".join(segments)


def check_key(key: str) -> str:
    """Validate an object key and return it; raises ``StorageKeyNameError`` (a ValueError)
    naming the bad key (printable: undecodable bytes of a file name shown as ``\\xNN``)."""
    if not isinstance(key, str) or not key:
        raise StorageKeyNameError(key, "object key must be a non-empty str")
    if key.startswith("/") or key.endswith("/"):
        raise StorageKeyNameError(key, "key must be relative, '/'-separated, not a folder")
    if "\x00" in key:
        raise StorageKeyNameError(key, "key contains a NUL character")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise StorageKeyNameError(key, "key has an empty or relative segment")
        if _is_temp_segment(segment):
            raise StorageKeyNameError(key, f"key uses a reserved temp name ({TMP_PREFIX}*, .*.tmp)")
    return key


def check_prefix(prefix: str) -> str:
    """Validate a listing prefix ('' = everything); a trailing '/' is allowed."""
    if prefix == "":
        return prefix
    body = prefix[:-1] if prefix.endswith("/") else prefix
    check_key(body)
    return prefix


def _is_temp_segment(segment: str) -> bool:
    # `.tmp-*`: writer_path; `.<name>.<random>.tmp`: writers that replace a file in place
    # (mkstemp beside the target, e.g. inside a writer_path temp: `..tmp-...npz.x1y2.tmp`)
    return segment.startswith(TMP_PREFIX) or (segment.startswith(".") and segment.endswith(".tmp"))


def is_temp_key(key: str) -> bool:
    """True if any segment of the key is the temp file of an in-flight write."""
    return any(_is_temp_segment(segment) for segment in key.split("/"))


def host_digest() -> str:
    """Six hex digits naming this host in temp names (so only its own leftovers are swept)."""
    return hashlib.sha256(socket.gethostname().encode("utf-8", "replace")).hexdigest()[:6]


def temp_name(name: str, suffix: str = "") -> str:
    """A unique recognisable temp file name that keeps ``name``'s extension:
    ``.tmp-h<host>p<pid>-<random>-<name><suffix>`` (the tail of a very long name only)."""
    tail = name + suffix
    while len(os.fsencode(tail)) > _MAX_TEMP_TAIL:  # fsencode: bytes of the name on disk
        tail = tail[1:]
    return f"{TMP_PREFIX}h{host_digest()}p{os.getpid()}-{uuid.uuid4().hex[:16]}-{tail}"


def temp_owner_dead(name: str) -> bool:
    """True if ``name`` is the temp file of a process of this host that no longer runs (a
    killed writer's leftover, safe to remove); False if it may still be written, or unknown."""
    m = _OWNER_RE.match(name)
    if m is None or m.group(1) != host_digest():
        return False
    return not pid_alive(int(m.group(2)))


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this host (a zombie counts as alive)."""
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


class Storage(ABC):
    """A root (local folder or S3 prefix) holding objects addressed by '/'-separated keys."""

    root: str

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.root!r})"

    @abstractmethod
    def uri(self, key: str) -> str:
        """Full location of ``key``: an absolute path or ``s3://bucket/prefix/key``."""

    @abstractmethod
    def exists(self, key: str) -> bool:
        """True if an object is stored at ``key`` (folders do not count)."""

    @abstractmethod
    def list(self, prefix: str = "", suffixes: tuple[str, ...] | None = None) -> list[ObjectInfo]:
        """Objects whose key starts with ``prefix`` (a string prefix, recursive), sorted by key.

        ``suffixes`` keeps only keys ending with one of them. Temp files are skipped.
        """

    def sweep_temp(self, prefix: str) -> list[str]:
        """Delete temp files under ``prefix`` that a killed writer left behind; their keys.

        Only for a prefix that no other writer uses at the time (a stage sweeps its own
        partition before writing it). Object stores write through local temp files, so by
        default there is nothing to sweep."""
        return []

    @abstractmethod
    def read_bytes(self, key: str) -> bytes:
        """The object's content; raises StorageKeyError if missing."""

    @abstractmethod
    def write_bytes(self, key: str, data: bytes) -> None:
        """Store ``data`` at ``key`` atomically, replacing any earlier object."""

    @abstractmethod
    def put_file(self, key: str, local_path: str | Path) -> None:
        """Copy a local file to ``key`` atomically, replacing any earlier object."""

    @abstractmethod
    def local_path(self, key: str) -> AbstractContextManager[Path]:
        """Context manager yielding a local file with the object's content (read only).

        Local storage yields the file itself; S3 downloads to a temp file deleted on exit.
        """

    @abstractmethod
    def writer_path(self, key: str, suffix: str = "") -> AbstractContextManager[Path]:
        """Context manager yielding a temp local path to write; published to ``key`` on exit.

        The temp name ends with the key's base name plus ``suffix`` (for tools that pick a
        format from the extension). If the block raises, nothing becomes visible and the temp
        file is removed. Exiting normally without creating the file raises FileNotFoundError.
        """

    @abstractmethod
    def delete(self, key: str, *, missing_ok: bool = False) -> None:
        """Remove one object; raises StorageKeyError if missing unless ``missing_ok``."""

    @abstractmethod
    def delete_prefix(self, prefix: str) -> int:
        """Remove every listed object under ``prefix``; returns how many were removed."""

    @abstractmethod
    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        """A pyarrow filesystem and the root's base path in it, for ``pyarrow.dataset``."""
