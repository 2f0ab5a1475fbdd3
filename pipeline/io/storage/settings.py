"""Connection settings for S3-compatible object stores (AWS, SeaweedFS, MinIO, ...).

Besides the endpoint and credentials, the settings say how hard to try (read by
:meth:`S3Settings.from_env`; every value is checked and a bad one is a ``ConfigError`` naming
the variable):

- ``LAPS_S3_MAX_ATTEMPTS`` (5): attempts per HTTP request, botocore's own retry (and pyarrow's
  ``AwsStandardS3RetryStrategy`` for Parquet reads through ``arrow_filesystem``).
- ``LAPS_S3_RETRY_MODE`` (``standard``): botocore's retry mode, ``standard`` or ``adaptive``
  (adaptive also rate-limits the client after throttling answers).
- ``LAPS_S3_OPERATION_ATTEMPTS`` (3): attempts per storage operation (an upload, a download,
  a read, a listing) after a transient failure that outlived botocore's retries: a connection
  reset in the middle of a multipart part, 5xx or ``SlowDown`` answers, a server restarting.
- ``LAPS_S3_BACKOFF_SECONDS`` (0.5): the first wait between operation attempts; it doubles
  each time, up to 10 s.
- ``LAPS_S3_CONNECT_TIMEOUT`` (5) and ``LAPS_S3_READ_TIMEOUT`` (60): seconds per request.
- ``LAPS_S3_PROBE_TIMEOUT`` (3): seconds the reachability check at start-up waits (one
  attempt, no retries), so an unreachable store is one line, not minutes of retries.

Credentials come from the environment only and never appear in repr, errors or logs
(:func:`redact_text`); an endpoint URL that carries ``user:password@`` is refused. The endpoint
is only ever taken from these variables (the boto3 client ignores endpoint URLs configured
elsewhere, e.g. in ``~/.aws/config``), so every endpoint passes that check.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pipeline.errors import ConfigError

# field -> environment variable (the numeric and mode settings; endpoint and keys: from_env)
RETRY_ENV = {
    "max_attempts": "LAPS_S3_MAX_ATTEMPTS",
    "retry_mode": "LAPS_S3_RETRY_MODE",
    "operation_attempts": "LAPS_S3_OPERATION_ATTEMPTS",
    "backoff_seconds": "LAPS_S3_BACKOFF_SECONDS",
    "connect_timeout": "LAPS_S3_CONNECT_TIMEOUT",
    "read_timeout": "LAPS_S3_READ_TIMEOUT",
    "probe_timeout": "LAPS_S3_PROBE_TIMEOUT",
}
MAX_BACKOFF_SECONDS = 10.0


class S3Settings(BaseModel):
    """Where and how to reach S3. ``None`` credentials mean boto3's default chain (env AWS_*)."""

    # hide_input_in_errors: pydantic would repeat a bad value (a URL, a key) in its message
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    endpoint_url: str | None = Field(
        default=None, description="e.g. http://127.0.0.1:8333; None = AWS"
    )
    region: str = "us-east-1"
    access_key_id: str | None = Field(default=None, repr=False)
    secret_access_key: str | None = Field(default=None, repr=False)
    max_attempts: int = Field(
        default=5, ge=1, le=20, description="attempts per HTTP request (botocore, pyarrow)"
    )
    retry_mode: Literal["standard", "adaptive"] = Field(
        default="standard", description="botocore retry mode"
    )
    operation_attempts: int = Field(
        default=3, ge=1, le=20, description="attempts per storage operation (transient faults)"
    )
    backoff_seconds: float = Field(
        default=0.5, ge=0, le=MAX_BACKOFF_SECONDS, description="first wait between operations"
    )
    connect_timeout: float = Field(default=5.0, gt=0, le=300, description="seconds")
    read_timeout: float = Field(default=60.0, gt=0, le=3600, description="seconds")
    probe_timeout: float = Field(
        default=3.0, gt=0, le=60, description="seconds for the reachability check"
    )

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_is_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        if _has_credentials(value):
            raise ValueError(
                f"the S3 endpoint URL {redact_url(value)} carries credentials: set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead"
            )
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"endpoint_url must be an http(s) URL with a host, got {redact_url(value)!r}"
            )
        return value.rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> S3Settings:
        """Read LAPS_S3_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL), AWS_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY, AWS_REGION (or AWS_DEFAULT_REGION) and the ``LAPS_S3_*`` retry
        settings of the module doc; unset or empty = default. A bad value is a ConfigError
        naming the variable (values of credentials are never repeated).
        """
        env = os.environ if environ is None else environ

        def pick(*names: str) -> str | None:
            return next((env[n] for n in names if env.get(n)), None)

        endpoint = pick("LAPS_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL")
        if endpoint and _has_credentials(endpoint):
            # checked before pydantic, whose errors would repeat the value with the secret
            raise ConfigError(
                f"the S3 endpoint URL {redact_url(endpoint)} carries credentials: set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead (a URL ends up in "
                "connection errors and logs)"
            )
        values: dict[str, Any] = {
            "endpoint_url": endpoint,
            "region": pick("AWS_REGION", "AWS_DEFAULT_REGION") or "us-east-1",
            "access_key_id": pick("AWS_ACCESS_KEY_ID"),
            "secret_access_key": pick("AWS_SECRET_ACCESS_KEY"),
        }
        for name, var in RETRY_ENV.items():
            raw = env.get(var, "").strip()
            if raw:
                values[name] = raw
        try:
            return cls(**values)
        except ValidationError as exc:
            raise ConfigError(_env_error(exc, env, endpoint)) from None

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``boto3.client("s3", ...)`` (unset values left out)."""
        kwargs: dict[str, Any] = {"region_name": self.region}
        if self.endpoint_url:
            kwargs["endpoint_url"] = self.endpoint_url
        if self.access_key_id:
            kwargs["aws_access_key_id"] = self.access_key_id
        if self.secret_access_key:
            kwargs["aws_secret_access_key"] = self.secret_access_key
        return kwargs

    def arrow_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``pyarrow.fs.S3FileSystem``: endpoint split into host +
        scheme, credentials, and the same attempts and timeouts as the boto3 client."""
        import pyarrow.fs as pafs

        kwargs: dict[str, Any] = {"region": self.region}
        if self.endpoint_url:
            parts = urlsplit(self.endpoint_url)
            kwargs["endpoint_override"] = parts.netloc + parts.path
            kwargs["scheme"] = parts.scheme
        if self.access_key_id and self.secret_access_key:
            kwargs["access_key"] = self.access_key_id
            kwargs["secret_key"] = self.secret_access_key
        kwargs["connect_timeout"] = self.connect_timeout
        kwargs["request_timeout"] = self.read_timeout
        kwargs["retry_strategy"] = pafs.AwsStandardS3RetryStrategy(max_attempts=self.max_attempts)
        return kwargs

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed operation attempt ``attempt`` (1-based): doubling."""
        return min(MAX_BACKOFF_SECONDS, self.backoff_seconds * 2 ** (attempt - 1))

    def secrets(self) -> list[str]:
        """Values that must never be printed (the secret key)."""
        return [s for s in (self.secret_access_key,) if s]

    def redact(self, text: str) -> str:
        """``text`` with URL credentials and this store's secret key replaced by ``***``."""
        return redact_text(text, self.secrets())


def _env_error(exc: ValidationError, env: Mapping[str, str], endpoint: str | None) -> str:
    """One line naming the environment variable of each bad value (never the value of a key)."""
    names = {
        "endpoint_url": "LAPS_S3_ENDPOINT_URL",
        "region": "AWS_REGION",
        "access_key_id": "AWS_ACCESS_KEY_ID",
        "secret_access_key": "AWS_SECRET_ACCESS_KEY",
        **RETRY_ENV,
    }
    problems = []
    for error in exc.errors(include_input=False, include_url=False):
        field = str(error["loc"][0]) if error["loc"] else ""
        var = names.get(field, field)
        if field in RETRY_ENV:
            shown = f"={env.get(var, '')!r}"
        elif field == "endpoint_url" and endpoint:
            shown = f"={redact_url(endpoint)!r}"
        else:
            shown = ""
        message = str(error["msg"]).removeprefix("Value error, ")
        problems.append(f"{var}{shown}: {message}")
    return "S3 settings: " + "; ".join(problems)


def _has_credentials(url: str) -> bool:
    try:
        parts = urlsplit(url)
        return bool(parts.username or parts.password)
    except ValueError:
        return "@" in url


def redact_url(url: str) -> str:
    """``url`` with any ``user:password@`` replaced by ``***@`` (safe to print)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***" if "@" in url else url
    host = rest.split("/", 1)
    if "@" in host[0]:
        host[0] = "***@" + host[0].rsplit("@", 1)[1]
    return f"{scheme}://{'/'.join(host)}"


# scheme://userinfo@ -- userinfo holds no '/', whitespace, quote or '@'
_URL_USERINFO = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*://)[^/\s@'\"<>]+@")


def redact_text(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` safe to print: the ``user:password@`` of every URL in it becomes ``***@`` and
    each of ``secrets`` (and its URL-decoded form) becomes ``***``. For messages of botocore,
    urllib3 or pyarrow, which repeat the endpoint URL."""
    out = _URL_USERINFO.sub(r"\g<scheme>***@", text)
    for secret in secrets:
        for form in {secret, unquote(secret)}:
            if form:
                out = out.replace(form, "***")
    return out
