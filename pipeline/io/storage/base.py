"""The storage contract shared by local folders and S3: keys, object info, errors, the ABC.

Keys are '/'-separated paths relative to a storage root (``"tables/x/date=2026-01-01/a.parquet"``).
Writes are atomic: a reader sees either the old object, the new one, or nothing. Files of
in-flight writes carry the :data:`TMP_PREFIX` name prefix and are never listed.
"""

from __future__ import annotations

import uuid
from abc import ABC, abstractmethod
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow.fs as pafs

TMP_PREFIX = ".tmp-"
"""Name prefix of temp files of in-flight writes; ``list()`` skips any key with such a part."""


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its key relative to the storage root, size in bytes, UTC mtime."""

    key: str
    size: int
    mtime: datetime


def join_key(*parts: str) -> str:
    """Join key parts with '/', dropping empty parts and stray slashes.

    >>> join_key("tables/", "/clips", "a.parquet")
    'tables/clips/a.parquet'

    Raises ValueError for '.' or '..' segments, which would escape or alias the root.
    """
    segments: list[str] = []
    for part in parts:
        if not isinstance(part, str):
            raise ValueError(f"key part must be str, got {part!r}")
        segments.extend(s for s in part.split("/") if s)
    bad = [s for s in segments if s in (".", "..")]
    if bad:
        raise ValueError(f"key parts {parts!r} contain relative segment {bad[0]!r}")
    return "/".join(segments)


def check_key(key: str) -> str:
    """Validate an object key and return it; raises ValueError naming the bad key."""
    if not isinstance(key, str) or not key:
        raise ValueError(f"object key must be a non-empty str, got {key!r}")
    if key.startswith("/") or key.endswith("/") or "\\" in key:
        raise ValueError(f"object key must be relative, '/'-separated, not a folder: {key!r}")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise ValueError(f"object key has an empty or relative segment: {key!r}")
        if segment.startswith(TMP_PREFIX):
            raise ValueError(f"object key uses the reserved temp prefix {TMP_PREFIX!r}: {key!r}")
    return key


def check_prefix(prefix: str) -> str:
    """Validate a listing prefix ('' = everything); a trailing '/' is allowed."""
    if prefix == "":
        return prefix
    body = prefix[:-1] if prefix.endswith("/") else prefix
    check_key(body)
    return prefix


def is_temp_key(key: str) -> bool:
    """True if any segment of the key is the temp file of an in-flight write."""
    return any(segment.startswith(TMP_PREFIX) for segment in key.split("/"))


def temp_name(name: str, suffix: str = "") -> str:
    """A unique recognisable temp file name that keeps ``name``'s extension."""
    return f"{TMP_PREFIX}{uuid.uuid4().hex}-{name}{suffix}"


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
