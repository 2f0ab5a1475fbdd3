"""Storage under an S3 prefix (AWS or any S3-compatible server such as SeaweedFS).

Objects appear whole: small writes are one PUT, big files a multipart upload that S3 only
exposes on completion (s3transfer aborts the upload when a part fails). boto3 errors are
translated into :mod:`pipeline.errors` storage errors with one line naming the operation, the
``s3://`` location and the cause, credentials redacted (no chained botocore traceback).

Faults are retried at two levels (settings in :mod:`pipeline.io.storage.settings`): botocore
retries each request (``max_attempts``, ``retry_mode``, connect/read timeouts), and each storage
operation as a whole (an upload, a download, a read, a listing) is retried with doubling waits
(``operation_attempts``, ``backoff_seconds``) after a transient failure that outlived those
retries: connection refused or reset, timeouts, 5xx and ``SlowDown``. Every operation here is
idempotent, so a retry never duplicates anything. A permanent error (access denied, a missing
bucket) is not retried.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pyarrow.fs as pafs
from boto3.exceptions import RetriesExceededError, S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
)

from pipeline.errors import ConfigError, StorageAccessError, StorageError, StorageKeyError
from pipeline.io.storage.base import (
    ObjectInfo,
    Storage,
    check_key,
    check_prefix,
    is_temp_key,
    join_key,
    temp_name,
)
from pipeline.io.storage.settings import S3Settings, redact_url

log = logging.getLogger(__name__)

T = TypeVar("T")

_BUCKET_RE = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")
_MISSING_CODES = {"NoSuchKey", "404", "NotFound"}
_DENIED_CODES = {"AccessDenied", "403", "Forbidden", "InvalidAccessKeyId", "SignatureDoesNotMatch"}
# answers worth another try: throttling and server-side trouble
_TRANSIENT_CODES = {
    "SlowDown", "Throttling", "ThrottlingException", "RequestThrottled", "TooManyRequests",
    "RequestLimitExceeded", "RequestTimeout", "InternalError", "ServiceUnavailable",
    "500", "502", "503", "504", "429",
}  # fmt: skip
_TRANSIENT_STATUS = {429, 500, 502, 503, 504}
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


def _code(err: ClientError) -> str:
    error = err.response.get("Error", {})
    return str(error.get("Code") or err.response.get("ResponseMetadata", {}).get("HTTPStatusCode"))


def translate_client_error(err: ClientError, uri: str) -> StorageError:
    """Map a botocore ClientError to StorageKeyError / StorageAccessError naming ``uri``."""
    error = err.response.get("Error", {})
    code = _code(err)
    if code in _MISSING_CODES:
        return StorageKeyError(uri)
    if code == "NoSuchBucket":
        return StorageAccessError("S3 bucket does not exist", uri, code)
    if code in _DENIED_CODES:
        return StorageAccessError("S3 access denied (check credentials/policy)", uri, code)
    return StorageAccessError(f"S3 request failed: {error.get('Message', err)}", uri, code)


def root_cause(err: BaseException) -> BaseException:
    """The botocore error behind boto3's transfer wrappers (S3UploadFailedError carries its
    ClientError as context, RetriesExceededError as ``last_exception``)."""
    if isinstance(err, RetriesExceededError) and err.last_exception is not None:
        return root_cause(err.last_exception)
    if isinstance(err, S3UploadFailedError):
        inner = err.__cause__ or err.__context__
        if isinstance(inner, ClientError | BotoCoreError):
            return inner
    return err


def is_transient(err: BaseException) -> bool:
    """True for faults worth retrying: connections refused, reset or timed out, throttling
    and 5xx answers (also when boto3's transfer manager wraps them)."""
    err = root_cause(err)
    if isinstance(err, ClientError):
        status = err.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        return _code(err) in _TRANSIENT_CODES or status in _TRANSIENT_STATUS
    if isinstance(err, RetriesExceededError):  # download retries exhausted on socket errors
        return True
    return isinstance(err, ConnectionError | HTTPClientError | IncompleteReadError)


def make_client(settings: S3Settings, *, probe: bool = False) -> Any:
    """A boto3 S3 client; path-style addressing when a custom endpoint is set. ``probe``: one
    attempt with the short ``probe_timeout`` (the reachability check)."""
    s3_opts = {"addressing_style": "path"} if settings.endpoint_url else {}
    if probe:
        timeouts = (settings.probe_timeout, settings.probe_timeout)
        retries = {"total_max_attempts": 1, "mode": "standard"}
    else:
        timeouts = (settings.connect_timeout, settings.read_timeout)
        retries = {"total_max_attempts": settings.max_attempts, "mode": settings.retry_mode}
    # ignore_configured_endpoint_urls: the endpoint comes from S3Settings only (checked for
    # credentials), never from botocore's own look-up of AWS_ENDPOINT_URL* or ~/.aws/config
    config = Config(
        s3=s3_opts, retries=retries, connect_timeout=timeouts[0], read_timeout=timeouts[1],
        ignore_configured_endpoint_urls=True,
    )  # fmt: skip
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

    @property
    def endpoint(self) -> str:
        """The endpoint requests go to, safe to print (credentials redacted)."""
        url = self.settings.endpoint_url or "the default AWS endpoint"
        return redact_url(self.settings.redact(url))

    def _full(self, key: str) -> str:
        return join_key(self.prefix, check_key(key))

    def uri(self, key: str) -> str:
        """``s3://bucket/prefix/key``."""
        return f"s3://{self.bucket}/{self._full(key)}"

    # --- retries and errors ---------------------------------------------------------------
    def _call(
        self,
        op: str,
        uri: str,
        fn: Callable[[], T],
        on_client_error: Callable[[ClientError], StorageError] | None = None,
    ) -> T:
        """Run ``fn`` (one idempotent operation), retrying transient faults up to
        ``operation_attempts`` times with doubling waits; any S3 failure leaves as a
        StorageError (one line: operation, location, cause; credentials redacted)."""
        attempts = self.settings.operation_attempts
        for attempt in range(1, attempts + 1):
            try:
                return fn()
            except (ClientError, BotoCoreError, S3UploadFailedError, RetriesExceededError) as err:
                if attempt < attempts and is_transient(err):
                    delay = self.settings.backoff(attempt)
                    log.info(  # the run's event log has it; a final failure is the error
                        "S3 %s of %s failed (%s); attempt %d of %d in %.1f s",
                        op, uri, self._describe(err), attempt + 1, attempts, delay,
                    )  # fmt: skip
                    time.sleep(delay)
                    continue
                error = self._translate(op, uri, err, attempt, on_client_error)
            # raised outside the except block: no chained botocore traceback (its message
            # repeats the endpoint URL); the cause is in the message, redacted
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def _describe(self, err: BaseException) -> str:
        cause = root_cause(err)
        return self.settings.redact(f"{type(cause).__name__}: {cause}")

    def _translate(
        self,
        op: str,
        uri: str,
        err: BaseException,
        attempts: int,
        on_client_error: Callable[[ClientError], StorageError] | None,
    ) -> StorageError:
        cause = root_cause(err)
        tried = f" after {attempts} attempts" if attempts > 1 else ""
        if isinstance(cause, ClientError):
            translated = (on_client_error or (lambda e: translate_client_error(e, uri)))(cause)
            if isinstance(translated, StorageAccessError) and tried:
                return StorageAccessError(
                    f"S3 {op} failed{tried}: {cause.response.get('Error', {}).get('Message')}",
                    uri,
                    translated.code,
                )
            return translated
        code = type(cause).__name__
        text = self.settings.redact(str(cause))
        if isinstance(cause, NoCredentialsError):
            return StorageAccessError(
                f"S3 {op} failed: no credentials (set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY)", uri, code,
            )  # fmt: skip
        if isinstance(cause, ConnectionError | HTTPClientError | IncompleteReadError):
            return StorageAccessError(
                f"S3 {op} failed{tried}, endpoint {self.endpoint}: {text}", uri, code
            )
        return StorageAccessError(f"S3 {op} failed{tried}: {text}", uri, code)

    def _missing(self, uri: str, err: ClientError) -> StorageError:
        """Translate an error; a bare 404 is a missing key only once the bucket is known."""
        translated = translate_client_error(err, uri)
        if isinstance(translated, StorageKeyError):
            self._check_bucket()
        return translated

    def _bucket_error(self, err: ClientError) -> StorageError:
        code = _code(err)
        if code in _MISSING_CODES | {"NoSuchBucket"}:
            return StorageAccessError("S3 bucket does not exist", self.root, code)
        return translate_client_error(err, self.root)

    def _check_bucket(self) -> None:
        """Raise StorageAccessError if the bucket is missing or forbidden (checked once)."""
        if self._bucket_checked:
            return
        self._call(
            "bucket check", self.root,
            lambda: self.client.head_bucket(Bucket=self.bucket), self._bucket_error,
        )  # fmt: skip
        self._bucket_checked = True

    def check_reachable(self) -> None:
        """Fail fast, before any work, when the store cannot be used: one request (HEAD of
        the bucket) with the short ``probe_timeout`` and no retries. Raises
        StorageAccessError naming the endpoint (redacted) and the cause."""
        probe = make_client(self.settings, probe=True)
        try:
            probe.head_bucket(Bucket=self.bucket)
        except ClientError as err:
            error = self._bucket_error(err)
        except BotoCoreError as err:
            error = StorageAccessError(
                f"S3 endpoint {self.endpoint} is unreachable "
                f"({self.settings.redact(str(err))}; waited up to "
                f"{self.settings.probe_timeout:g} s)",
                self.root,
                type(err).__name__,
            )
        else:
            self._bucket_checked = True
            return
        raise error

    # --- the Storage contract ---------------------------------------------------------------
    def exists(self, key: str) -> bool:
        """HEAD the object; False on 404 (after confirming the bucket exists)."""
        uri = self.uri(key)
        try:
            self._call(
                "head", uri,
                lambda: self.client.head_object(Bucket=self.bucket, Key=self._full(key)),
                lambda err: self._missing(uri, err),
            )  # fmt: skip
        except StorageKeyError:
            return False
        return True

    def list(self, prefix: str = "", suffixes: tuple[str, ...] | None = None) -> list[ObjectInfo]:
        """ListObjectsV2 under ``prefix``, recursive, sorted, temp and folder markers skipped."""
        check_prefix(prefix)
        base = f"{self.prefix}/" if self.prefix else ""

        def listing() -> list[ObjectInfo]:
            found = []
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=base + prefix):
                for obj in page.get("Contents", []):
                    key = obj["Key"][len(base) :]
                    if not key or key.endswith("/") or is_temp_key(key):
                        continue
                    if suffixes is not None and not key.endswith(tuple(suffixes)):
                        continue
                    mtime = obj["LastModified"].astimezone(UTC)
                    found.append(ObjectInfo(key, int(obj["Size"]), mtime))
            return found

        found = self._call("list", f"{self.root}/{prefix}", listing)
        return sorted(found, key=lambda i: i.key)

    def read_bytes(self, key: str) -> bytes:
        """GET the object's content (a body cut off half-way is read again)."""
        uri = self.uri(key)

        def read() -> bytes:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._full(key))
            return resp["Body"].read()

        return self._call("read", uri, read, lambda err: self._missing(uri, err))

    def write_bytes(self, key: str, data: bytes) -> None:
        """One PUT: the object appears whole or not at all."""
        uri = self.uri(key)
        self._call(
            "write", uri,
            lambda: self.client.put_object(Bucket=self.bucket, Key=self._full(key), Body=data),
        )  # fmt: skip
        log.debug("put %s (%d bytes)", uri, len(data))

    def put_file(self, key: str, local_path: str | Path) -> None:
        """Upload a file (multipart above 64 MiB; visible only when complete, aborted when a
        part fails; the whole upload is retried after a transient fault)."""
        src = Path(local_path)
        if not src.is_file():
            raise FileNotFoundError(f"source file to store does not exist: {str(src)!r}")
        uri = self.uri(key)
        self._call(
            "upload", uri,
            lambda: self.client.upload_file(
                str(src), self.bucket, self._full(key), Config=_TRANSFER
            ),
        )  # fmt: skip
        log.debug("uploaded %s -> %s", src, uri)

    @contextmanager
    def local_path(self, key: str) -> Iterator[Path]:
        """Download to a temp folder (file keeps the key's name); removed on exit."""
        full = self._full(key)
        uri = self.uri(key)
        from pipeline.io.scratch import scratch_dir  # imports this package's base

        with scratch_dir("laps-s3-read") as tmpdir:
            path = Path(tmpdir) / full.rsplit("/", 1)[-1]
            self._call(
                "download", uri,
                lambda: self.client.download_file(self.bucket, full, str(path), Config=_TRANSFER),
                lambda err: self._missing(uri, err),
            )  # fmt: skip
            yield path

    @contextmanager
    def writer_path(self, key: str, suffix: str = "") -> Iterator[Path]:
        """Yield a path in a private temp folder; upload it to ``key`` on normal exit."""
        full = self._full(key)
        from pipeline.io.scratch import scratch_dir

        with scratch_dir("laps-s3-write") as tmpdir:
            tmp = Path(tmpdir) / temp_name(full.rsplit("/", 1)[-1], suffix)
            yield tmp
            if not tmp.is_file():
                raise FileNotFoundError(f"writer_path block did not create {str(tmp)!r}")
            self.put_file(key, tmp)

    def delete(self, key: str, *, missing_ok: bool = False) -> None:
        """DELETE one object; StorageKeyError first if it is missing and not ``missing_ok``."""
        if not missing_ok and not self.exists(key):
            raise StorageKeyError(self.uri(key))
        self._call(
            "delete", self.uri(key),
            lambda: self.client.delete_object(Bucket=self.bucket, Key=self._full(key)),
        )  # fmt: skip

    def delete_prefix(self, prefix: str) -> int:
        """DeleteObjects in batches for every listed object under ``prefix``."""
        keys = [self._full(info.key) for info in self.list(prefix)]
        for start in range(0, len(keys), _DELETE_BATCH):
            batch = [{"Key": k} for k in keys[start : start + _DELETE_BATCH]]
            resp = self._call(
                "delete", f"{self.root}/{prefix}",
                lambda batch=batch: self.client.delete_objects(
                    Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True}
                ),
            )  # fmt: skip
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
        """pyarrow's S3FileSystem for the same endpoint/credentials, attempts and timeouts,
        and ``bucket/prefix``."""
        fs = pafs.S3FileSystem(**self.settings.arrow_kwargs())
        return fs, f"{self.bucket}/{self.prefix}".rstrip("/")


def check_reachable(store: Storage, what: str) -> None:
    """Before any heavy work: raise ConfigError (one line naming ``what``, an option or an
    environment variable, the store and the endpoint) when an S3 store cannot be reached or
    used. Local folders pass."""
    if not isinstance(store, S3Storage):
        return
    try:
        store.check_reachable()
    except StorageError as err:
        text = str(err).removesuffix(f": {err.uri}")  # the location leads the line instead
        raise ConfigError(f"{what} {store.root}: {text}") from None
