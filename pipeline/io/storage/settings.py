"""Connection settings for S3-compatible object stores (AWS, SeaweedFS, MinIO, ...)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pipeline.errors import ConfigError


class S3Settings(BaseModel):
    """Where and how to reach S3. ``None`` credentials mean boto3's default chain (env AWS_*)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint_url: str | None = Field(
        default=None, description="e.g. http://127.0.0.1:8333; None = AWS"
    )
    region: str = "us-east-1"
    access_key_id: str | None = Field(default=None, repr=False)
    secret_access_key: str | None = Field(default=None, repr=False)

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint_is_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"endpoint_url must be an http(s) URL with a host, got {redact_url(value)!r}"
            )
        return value.rstrip("/")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> S3Settings:
        """Read LAPS_S3_ENDPOINT_URL (or AWS_ENDPOINT_URL), AWS_ACCESS_KEY_ID,
        AWS_SECRET_ACCESS_KEY and AWS_REGION (or AWS_DEFAULT_REGION); unset or empty = default.
        """
        env = os.environ if environ is None else environ

        def pick(*names: str) -> str | None:
            return next((env[n] for n in names if env.get(n)), None)

        endpoint = pick("LAPS_S3_ENDPOINT_URL", "AWS_ENDPOINT_URL")
        if endpoint and _has_credentials(endpoint):
            # checked before pydantic, whose errors would repeat the value with the secret
            raise ConfigError(
                f"the S3 endpoint URL {redact_url(endpoint)} carries credentials: set "
                "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY instead (a URL ends up in "
                "connection errors and logs)"
            )
        return cls(
            endpoint_url=endpoint,
            region=pick("AWS_REGION", "AWS_DEFAULT_REGION") or "us-east-1",
            access_key_id=pick("AWS_ACCESS_KEY_ID"),
            secret_access_key=pick("AWS_SECRET_ACCESS_KEY"),
        )

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
        """Keyword arguments for ``pyarrow.fs.S3FileSystem`` (endpoint split into host + scheme)."""
        kwargs: dict[str, Any] = {"region": self.region}
        if self.endpoint_url:
            parts = urlsplit(self.endpoint_url)
            kwargs["endpoint_override"] = parts.netloc + parts.path
            kwargs["scheme"] = parts.scheme
        if self.access_key_id and self.secret_access_key:
            kwargs["access_key"] = self.access_key_id
            kwargs["secret_key"] = self.secret_access_key
        return kwargs


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
