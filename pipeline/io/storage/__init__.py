"""One storage abstraction over local folders and S3 (see :class:`Storage`).

Example::

    store = open_storage("s3://bucket/prefix")     # or a local folder
    store.write_bytes(join_key("tables", "x.json"), b"{}")
"""

from __future__ import annotations

from pathlib import Path

from pipeline.errors import StorageAccessError, StorageError, StorageKeyError
from pipeline.io.storage.base import TMP_PREFIX, ObjectInfo, Storage, join_key
from pipeline.io.storage.local import LocalStorage
from pipeline.io.storage.s3 import S3Storage
from pipeline.io.storage.settings import S3Settings

__all__ = [
    "TMP_PREFIX",
    "LocalStorage",
    "ObjectInfo",
    "S3Settings",
    "S3Storage",
    "Storage",
    "StorageAccessError",
    "StorageError",
    "StorageKeyError",
    "join_key",
    "open_storage",
]


def open_storage(uri: str | Path, *, s3: S3Settings | None = None) -> Storage:
    """``s3://bucket/prefix`` -> S3Storage; a path or ``file://`` URI -> LocalStorage.

    For S3, ``s3=None`` reads :meth:`S3Settings.from_env`. A local folder is created if
    missing. Other schemes (``gs://``, ``http://``, ...) raise ValueError.
    """
    if isinstance(uri, Path):
        return LocalStorage(uri)
    if not isinstance(uri, str) or not uri:
        raise ValueError(f"storage URI must be a non-empty str or Path, got {uri!r}")
    if uri.startswith("s3://"):
        return S3Storage(uri, settings=s3)
    if uri.startswith("file://"):
        return LocalStorage(uri[len("file://") :])
    scheme, sep, _ = uri.partition("://")
    if sep and scheme.isalnum():
        raise ValueError(f"unsupported storage URI scheme {scheme!r} in {uri!r}")
    return LocalStorage(uri)
