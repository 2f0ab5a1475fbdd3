"""Headless Debian Chromium driven by Playwright, for the tests that open pages in a browser
(the Dagster UI test in tests/assets/ui, the discovery gallery test).

Debian's ``chromium`` package (``make system-deps``, part of ``make test`` when run as root),
never a Playwright browser download. Locally a missing piece skips the test; under ``CI`` it
fails, because the CI image must provide it.
"""

from __future__ import annotations

import os
import shutil
from types import ModuleType

import pytest

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def missing(reason: str) -> None:
    """Skip locally; fail in CI, where the dev extras and .ci/run must provide everything."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: .ci/run and the dev extras must provide it)")
    pytest.skip(reason)


def playwright_sync_api() -> ModuleType:
    """``playwright.sync_api``, or skip (fail under CI) when Playwright is not installed."""
    try:
        import playwright.sync_api as sync_api
    except ImportError as exc:
        missing(f"playwright is not installed ({exc}): pip install -e '.[dev]'")
    return sync_api


def chromium_executable() -> str:
    """Debian's Chromium on PATH, or skip (fail under CI)."""
    path = shutil.which("chromium")
    if path is None:
        missing("chromium not found on PATH: apt-get install -y chromium")
    return str(path)


def only_loopback(route: object) -> None:
    """A Playwright route handler: data:, blob:, file: and loopback URLs pass, the rest abort."""
    url = route.request.url
    host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
    if url.startswith(("data:", "blob:", "file:")) or host in ("127.0.0.1", "localhost"):
        route.continue_()
    else:
        route.abort()
