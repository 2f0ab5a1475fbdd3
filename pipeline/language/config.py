"""Typed configuration of the language labels (``pipeline.language.vlm``).

Any OpenAI-compatible chat endpoint (vLLM, Ollama, llama.cpp server, a hosted service) is named
by ``base_url`` and ``model``; ``base_url=None`` switches labelling off (every segment gets
status ``disabled``, no request is made). The API key is never part of the config: the config
names the environment variable that holds it (``api_key_env``), and ``resolve_api_key`` reads it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from pipeline.config import FrozenConfig

EMPTY_API_KEY = "EMPTY"
"""What is sent when no key is set: vLLM, Ollama and llama.cpp accept any key."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class LanguageConfig(FrozenConfig):
    """Where the VLM is, how hard to push it, and what to ask it (docs/language.md)."""

    base_url: str | None = Field(
        None,
        description="OpenAI-compatible API root, e.g. http://host:8000/v1 (vLLM) or "
        "http://localhost:11434/v1 (Ollama); None switches labelling off",
    )
    model: str = Field("", description="model name as the server knows it (required with base_url)")
    api_key_env: str = Field(
        "LAPS_VLM_API_KEY",
        description="NAME of the environment variable holding the API key (unset or empty: "
        f"{EMPTY_API_KEY!r} is sent); the key itself never appears in config, logs or tables",
    )
    max_concurrency: int = Field(4, ge=1, le=64, description="requests in flight at once")
    requests_per_minute: float = Field(
        120.0, gt=0, description="request starts per minute, shared by all workers (retries too)"
    )
    timeout_s: float = Field(60.0, gt=0, description="seconds one request may take")
    max_retries: int = Field(
        4, ge=0, le=20, description="retries of a segment on 429, 5xx, timeouts, connection errors"
    )
    backoff_s: float = Field(
        1.0, ge=0, description="first retry delay; doubled per retry, with jitter (x0.5..1)"
    )
    max_backoff_s: float = Field(
        60.0, ge=0, description="cap of one retry delay, a server's Retry-After included"
    )
    keyframes: int = Field(3, ge=1, le=16, description="images sent per segment (evenly spaced)")
    max_image_side: int = Field(
        448, ge=32, le=4096, description="longest side of a keyframe sent, px (encode_jpeg)"
    )
    max_tokens: int = Field(200, ge=16, le=4096, description="answer length limit, tokens")
    temperature: float = Field(0.0, ge=0, le=2, description="sampling temperature")
    json_mode: Literal["auto", "on", "off"] = Field(
        "auto",
        description="send response_format json_object: on, off, or auto (send it; when the "
        "server answers 400, retry without it and stop sending it for the rest of the run)",
    )

    # what changes an answer; the rest (concurrency, rate, timeouts, retries) only how it is
    # obtained, and stays out of the fingerprint
    ANSWER_FIELDS: ClassVar[tuple[str, ...]] = (
        "base_url", "model", "keyframes", "max_image_side", "max_tokens", "temperature",
    )  # fmt: skip

    @model_validator(mode="after")
    def _consistent(self) -> LanguageConfig:
        problems = []
        if self.base_url is not None:
            if not re.match(r"^https?://[^/\s]+", self.base_url):
                problems.append(f"base_url must be an http(s) URL, got {self.base_url!r}")
            elif re.match(r"^https?://[^/@\s]*:[^/@\s]*@", self.base_url):
                problems.append("base_url must not carry a password (use api_key_env)")
            if not self.model.strip():
                problems.append("model is required when base_url is set")
        if not _ENV_NAME.match(self.api_key_env):
            problems.append(f"api_key_env must name an environment variable, got "
                            f"{self.api_key_env!r}")  # fmt: skip
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def enabled(self) -> bool:
        return self.base_url is not None

    def fingerprint(self) -> str:
        """Hash of the fields that change an answer (module doc of ``ANSWER_FIELDS``)."""
        blob = json.dumps(self.model_dump(mode="json", include=set(self.ANSWER_FIELDS)),
                          sort_keys=True).encode()  # fmt: skip
        return hashlib.sha256(blob).hexdigest()[:12]


def resolve_api_key(cfg: LanguageConfig, environ: Mapping[str, str] | None = None) -> str:
    """The key in ``environ[cfg.api_key_env]`` (default ``os.environ``), or ``"EMPTY"``."""
    env = os.environ if environ is None else environ
    return env.get(cfg.api_key_env, "").strip() or EMPTY_API_KEY
