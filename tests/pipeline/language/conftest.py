"""Fixtures of the language tests: a real OpenAI-compatible server on loopback, a fast config."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from vlmserver import VlmServer

from pipeline.language import LanguageConfig


@pytest.fixture
def vlm_server() -> Iterator[VlmServer]:
    with VlmServer() as server:
        yield server


@pytest.fixture
def fast_cfg(vlm_server: VlmServer) -> LanguageConfig:
    """Small timeouts and backoff so retries take milliseconds (tests count requests)."""
    return LanguageConfig(
        base_url=vlm_server.base_url,
        model=vlm_server.model,
        timeout_s=0.5,
        backoff_s=0.005,
        max_backoff_s=0.05,
        max_retries=2,
        requests_per_minute=600_000,
        max_concurrency=4,
    )
