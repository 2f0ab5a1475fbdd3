"""Fixtures for the UI test: the real Dagster webserver (``dagster dev``) on a loopback port and
a headless Debian Chromium driven by Playwright.

``dagster dev`` is what ``make ui`` runs (webserver + daemon + code server), so the test covers the
same start-up path users take. It needs ~30-40 s to load the code location on this machine class.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

import pytest
from lapstest.browser import CHROMIUM_ARGS

if TYPE_CHECKING:
    from dagster import DagsterInstance

REPO = Path(__file__).resolve().parents[3]
READY_DEADLINE_S = 120.0
STOP_GRACE_S = 30.0
UI_TIMEOUT_MS = 60_000  # per action / assertion: the first page load compiles GraphQL queries
# A date and a station registered in the instance before start-up, so both dynamic dimensions
# have a key to show (and only that one: no calendar of empty dates).
UI_DATE = "2026-02-01"
UI_STATION = "ui-test-station"


def _missing(reason: str) -> None:
    """Skip locally; fail in CI, where the dev extras and .ci/run must provide everything."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI is set: .ci/run and the dev extras must provide it)")
    pytest.skip(reason)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Attach the tail of the ``dagster dev`` log to a failing UI test's report."""
    outcome = yield
    report = outcome.get_result()
    log_path = getattr(item, "dagster_log_path", None)
    if report.failed and log_path is not None and Path(log_path).exists():
        tail = Path(log_path).read_text(errors="replace")[-6000:]
        if tail:
            report.sections.append((f"dagster dev log ({log_path}, tail)", tail))


def _free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGINT the whole process group (graceful ``dagster dev`` shutdown), then SIGKILL it."""
    pgid = proc.pid  # start_new_session=True: the leader's pid is the group id
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGINT)
    deadline = time.monotonic() + STOP_GRACE_S
    while time.monotonic() < deadline:
        proc.poll()  # reap the leader so it does not linger as a zombie group member
        if not _group_alive(pgid):
            return
        time.sleep(0.25)
    if _group_alive(pgid):
        os.killpg(pgid, signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while _group_alive(pgid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _group_alive(pgid), f"processes of group {pgid} survived SIGKILL"


def _wait_ready(proc: subprocess.Popen[bytes], base_url: str, log_path: Path) -> None:
    deadline = time.monotonic() + READY_DEADLINE_S
    last_error = "no attempt yet"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"dagster dev exited with {proc.returncode} before serving; see {log_path}")
        try:
            with urllib.request.urlopen(f"{base_url}/server_info", timeout=5) as resp:
                if resp.status == 200:
                    return
                last_error = f"HTTP {resp.status}"
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last_error = repr(exc)
        time.sleep(0.5)
    pytest.fail(
        f"dagster dev not ready within {READY_DEADLINE_S:.0f} s ({last_error}); see {log_path}"
    )


@dataclass(frozen=True)
class DagsterUI:
    base_url: str
    log_path: Path
    station: str
    date: str


# Called as prepare(instance, data_root, date, station) after that date and station are
# registered and before ``dagster dev`` starts: a test module overrides the ``ui_prepare``
# fixture to land video or materialize assets first (with the DAGSTER_HOME and LAPS_DATA_ROOT
# the UI then serves).
Prepare = Callable[["DagsterInstance", Path, str, str], None]


@pytest.fixture
def ui_prepare() -> Prepare | None:
    """Nothing to prepare: an empty data root and an instance with only the registered keys."""
    return None


@pytest.fixture
def dagster_ui(
    request: pytest.FixtureRequest, tmp_path: Path, ui_prepare: Prepare | None
) -> Iterator[DagsterUI]:
    """A real ``dagster dev`` over a temp DAGSTER_HOME (the repo's dagster.yaml) and data root,
    prepared by ``ui_prepare`` (when a module overrides it) before start-up."""
    dagster = REPO / ".venv" / "bin" / "dagster"
    if not dagster.exists():
        dagster = Path(sys.executable).with_name("dagster")
    if not dagster.exists():
        pytest.fail(f"no dagster executable next to {sys.executable}")
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    data_root = tmp_path / "data"
    data_root.mkdir()

    import dagster as dg  # imported here: collecting this folder must stay cheap

    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("date", [UI_DATE])
        instance.add_dynamic_partitions("station", [UI_STATION])
        if ui_prepare is not None:
            ui_prepare(instance, data_root, UI_DATE, UI_STATION)

    port = _free_loopback_port()
    base_url = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "dagster_dev.log"
    request.node.dagster_log_path = log_path
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "LAPS_DATA_ROOT": str(data_root),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    cmd = [
        "env", "--default-signal=INT", str(dagster), "dev",
        "-w", str(REPO / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port),
    ]  # fmt: skip
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            cmd,
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_ready(proc, base_url, log_path)
        yield DagsterUI(base_url=base_url, log_path=log_path, station=UI_STATION, date=UI_DATE)
    finally:
        _stop_group(proc)


@pytest.fixture
def sync_api() -> ModuleType:
    """``playwright.sync_api``, or skip (fail under CI) when Playwright is not installed."""
    try:
        import playwright.sync_api as sync_api
    except ImportError as exc:
        _missing(f"playwright is not installed ({exc}): pip install -e '.[dev]'")
    return sync_api


@pytest.fixture
def chromium_path() -> str:
    """Debian's Chromium (never a Playwright browser download)."""
    path = shutil.which("chromium")
    if path is None:
        _missing("chromium not found on PATH: apt-get install -y chromium")
    return str(path)


@pytest.fixture
def ui_page(sync_api: ModuleType, chromium_path: str, dagster_ui: DagsterUI) -> Iterator[object]:
    """A headless Chromium page that may only reach loopback addresses."""
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_path, headless=True, args=CHROMIUM_ARGS
        )
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})

            def only_loopback(route: object) -> None:
                url = route.request.url
                host = url.split("://", 1)[-1].split("/", 1)[0].rsplit(":", 1)[0]
                if url.startswith(("data:", "blob:")) or host in ("127.0.0.1", "localhost"):
                    route.continue_()
                else:
                    route.abort()

            context.route("**/*", only_loopback)
            context.set_default_timeout(UI_TIMEOUT_MS)
            sync_api.expect.set_options(timeout=UI_TIMEOUT_MS)
            yield context.new_page()
        finally:
            browser.close()
