"""Storage under an S3 prefix (AWS or any S3-compatible server such as SeaweedFS).

Objects appear whole: small writes are one PUT, big files a multipart upload that S3 only
exposes on completion. boto3 errors are translated into :mod:`pipeline.io.storage.base` errors.
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any

import boto3
import pyarrow.fs as pafs
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import ClientError

from pipeline.errors import StorageAccessError, StorageError, StorageKeyError
from pipeline.io.storage.base import (
    ObjectInfo,
    Storage,
    check_key,
    check_prefix,
    is_temp_key,
    join_key,
    temp_name,
)
from pipeline.io.storage.settings import S3Settings

log = logging.getLogger(__name__)

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_DENIED_CODES = {"AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
_TRANSFER = TransferConfig(multipart_threshold=64 * 2**20, multipart_chunksize=16 * 2**20)
_DELETE_BATCH = 1000  # S3's limit per DeleteObjects request


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """Split ``s3://bucket/some/prefix`` into ``("bucket", "some/prefix")``."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri!r}")
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    if not _BUCKET_RE.match(bucket):
        raise ValueError(f"invalid S3 bucket name {bucket!r} in URI {uri!r}")
    try:
        prefix = join_key(prefix)
        if prefix:
            check_key(prefix)
    except ValueError as err:
        raise ValueError(f"invalid prefix in S3 URI {uri!r}: {err}") from err
    return bucket, prefix


def translate_client_error(err: ClientError, uri: str) -> StorageError:
    """Map a botocore ClientError to StorageKeyError / StorageAccessError naming ``uri``."""
    error = err.response.get("Error", {})
    code = str(error.get("Code") or err.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))
    if code in _MISSING_CODES:
        return StorageKeyError(uri)
    if code == "NoSuchBucket":
        return StorageAccessError("S3 bucket does not exist", uri, code)
    if code in _DENIED_CODES:
        return StorageAccessError("S3 access denied (check credentials/policy)", uri, code)
    return StorageAccessError(f"S3 request failed: {error.get('Message', err)}", uri, code)


def make_client(settings: S3Settings) -> Any:
    """A boto3 S3 client; path-style addressing when a custom endpoint is set."""
    s3_opts = {"addressing_style": "path"} if settings.endpoint_url else {}
    config = Config(s3=s3_opts, retries={"max_attempts": 5, "mode": "standard"})
    return boto3.session.Session().client("s3", config=config, **settings.client_kwargs())


class S3Storage(Storage):
    """Objects under ``s3://bucket/prefix``; ``client`` may be injected (tests, custom sessions)."""

    def __init__(self, uri: str, settings: S3Settings | None = None, client: Any = None) -> None:
        self.bucket, self.prefix = parse_s3_uri(uri)
        self.root = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        self.settings = settings if settings is not None else S3Settings.from_env()
        self._client = client
        self._bucket_checked = False

    @property
    def client(self) -> Any:
        """The boto3 client, created on first use."""
        if self._client is None:
            self._client = make_client(self.settings)
        return self._client

    def _full(self, key: str) -> str:
        return join_key(self.prefix, check_key(key))

    def uri(self, key: str) -> str:
        """``s3://bucket/prefix/key``."""
        return f"s3://{self.bucket}/{self._full(key)}"

    def _missing(self, uri: str, err: ClientError) -> StorageError:
        """Translate an error; a bare 404 is a missing key only once the bucket is known."""
        translated = translate_client_error(err, uri)
        if isinstance(translated, StorageKeyError):
            self._check_bucket()
        return translated

    def _check_bucket(self) -> None:
        """Raise StorageAccessError if the bucket is missing or forbidden (checked once)."""
        if self._bucket_checked:
            return
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as err:
            code = str(err.response.get("Error", {}).get("Code"))
            if code in _MISSING_CODES | {"NoSuchBucket"}:
                raise StorageAccessError("S3 bucket does not exist", self.root, code) from err
            raise translate_client_error(err, self.root) from err
        self._bucket_checked = True

    def exists(self, key: str) -> bool:
        """HEAD the object; False on 404 (after confirming the bucket exists)."""
        uri = self.uri(key)
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._full(key))
        except ClientError as err:
            error = self._missing(uri, err)
            if isinstance(error, StorageKeyError):
                return False
            raise error from err
        return True

    def list(self, prefix: str = "", suffixes: tuple[str, ...] | None = None) -> list[ObjectInfo]:
        """ListObjectsV2 under ``prefix``, recursive, sorted, temp and folder markers skipped."""
        check_prefix(prefix)
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        found = []
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base + prefix):
                for obj in page.get("Contents", []):
                    key = obj["Key"][len(base) :]
                    if not key or key.endswith("/") or is_temp_key(key):
                        continue
                    if suffixes is not None and not key.endswith(tuple(suffixes)):
                        continue
                    mtime = obj["LastModified"].astimezone(UTC)
                    found.append(ObjectInfo(key, int(obj["Size"]), mtime))
        except ClientError as err:
            raise translate_client_error(err, f"{self.root}/{prefix}") from err
        return sorted(found, key=lambda i: i.key)

    def read_bytes(self, key: str) -> bytes:
        """GET the object's content."""
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
            return resp["Body"].read()
        except ClientError as err:
            raise self._missing(self.uri(key), err) from err

    def write_bytes(self, key: str, data: bytes) -> None:
        """One PUT: the object appears whole or not at all."""
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data)
        except ClientError as err:
            raise translate_client_error(err, self.uri(key)) from err
        log.debug("put %s (%d bytes)", self.uri(key), len(data))

    def put_file(self, key: str, local_path: str | Path) -> None:
        """Upload a file (multipart above 64 MiB; visible only when complete)."""
        src = Path(local_path)
        if not src.is_file():
            raise FileNotFoundError(f"source file to store does not exist: {str(src)!r}")
        uri = self.uri(key)
        try:
            self.client.upload_file(str(src), self.bucket, self._full(key), Config=_TRANSFER)
        except ClientError as err:
            raise translate_client_error(err, uri) from err
        except S3UploadFailedError as err:
            raise StorageAccessError(f"S3 upload failed: {err}", uri, "S3UploadFailed") from err
        log.debug("uploaded %s -> %s", src, uri)

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """Download to a temp folder (file keeps the key's name); removed on exit."""
        full = self._full(key)
        with tempfile.TemporaryDirectory(prefix="laps-s3-read-") as tmpdir:
            path = Path(tmpdir) / full.rsplit("/", 1)[-1]
            try:
                self.client.download_file(self.bucket, full, str(path), Config=_TRANSFER)
            except ClientError as err:
                raise self._missing(self.uri(key), err) from err
            yield path

    @contextmanager
    def writer_path(self, key: str, suffix: str = "") -> Iterator[Path]:
        """Yield a path in a private temp folder; upload it to ``key`` on normal exit."""
        full = self._full(key)
        with tempfile.TemporaryDirectory(prefix="laps-s3-write-") as tmpdir:
            tmp = Path(tmpdir) / temp_name(full.rsplit("/", 1)[-1], suffix)
            yield tmp
            if not tmp.is_file():
                raise FileNotFoundError(f"writer_path block did not create {str(tmp)!r}")
            self.put_file(key, tmp)

    def delete(self, key: str, *, missing_ok: bool = False) -> None:
        """DELETE one object; StorageKeyError first if it is missing and not ``missing_ok``."""
        if not missing_ok and not self.exists(key):
            raise StorageKeyError(self.uri(key))
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._full(key))
        except ClientError as err:
            raise translate_client_error(err, self.uri(key)) from err

    def delete_prefix(self, prefix: str) -> int:
        """DeleteObjects in batches for every listed object under ``prefix``."""
        keys = [self._full(info.key) for info in self.list(prefix)]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": k} for k in keys[start : start + _DELETE_BATCH]]
            try:
                resp = self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                )
            except ClientError as err:
                raise translate_client_error(err, f"{self.root}/{prefix}") from err
            errors = resp.get("Errors", [])
            if errors:
                first = errors[0]
                uri = f"s3://{self.bucket}/{first.get('Key')}"
                raise StorageAccessError(
                    f"{len(errors)} deletes failed: {first.get('Message')}", uri, first.get("Code")
                )
        log.info("deleted %d objects under %s/%s", len(keys), self.root, prefix)
        return len(keys)

    def arrow_filesystem(self) -> tuple[pafs.FileSystem, str]:
        """pyarrow's S3FileSystem for the same endpoint/credentials, and ``bucket/prefix``."""
        fs = pafs.S3FileSystem(**self.settings.arrow_kwargs())
        return fs, f"{self.bucket}/{self.prefix}".rstrip("/")
