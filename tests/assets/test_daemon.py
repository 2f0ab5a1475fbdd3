"""The automation for real: a `dagster-daemon run` over a temporary instance ticks the landing
sensor against a landing folder, and the nightly schedule is evaluated against that instance.

The instance queues runs and never starts one (``max_concurrent_runs: 0``), so the test sees
what was requested at no compute cost; the sensor only lists files, so the videos are a few
bytes each."""

import contextlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest
import yaml
from dagster._core.scheduler.instigation import TickStatus

from assets import demo
from assets.automation import SENSOR_INTERVAL_ENV, STAGES_TAG, nightly_schedule
from assets.definitions import defs

REPO = Path(__file__).resolve().parents[2]
DAEMON = Path(sys.executable).with_name("dagster-daemon")
LANDED = {  # (station, date): file names
    ("station-a", "2026-03-01"): ("a1.mp4", "a2.mp4"),
    ("station-a", "2026-03-02"): ("a3.mp4",),
    ("station-b", "2026-03-01"): ("b1.mp4",),
}


def _home(tmp_path: Path) -> Path:
    """The repo's dagster.yaml with a queue that launches nothing."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    config = yaml.safe_load((REPO / "dagster.yaml").read_text())
    config["run_coordinator"] = {
        "module": "dagster._core.run_coordinator",
        "class": "QueuedRunCoordinator",
    }
    # the limit lives in `concurrency: runs:` (the repo's file configures `concurrency: pools:`,
    # which dagster does not allow beside a limit in the coordinator's own config)
    config.setdefault("concurrency", {})["runs"] = {"max_concurrent_runs": 0}
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home


def _land(landing: Path) -> None:
    for (station, date), names in LANDED.items():
        for name in names:
            path = landing / station / date / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"not really a video")


def _wait_for_tick(instance, sensor, after: float, status, *, timeout=240.0, log=None):
    """The first tick of ``status`` newer than ``after`` (the sensor's ticks, oldest first)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ticks = instance.get_ticks(sensor.get_remote_origin_id(), sensor.selector_id)
        done = sorted(
            (t for t in ticks if t.timestamp > after and t.status != TickStatus.STARTED),
            key=lambda t: t.timestamp,
        )
        for tick in done:
            assert tick.status in (TickStatus.SUCCESS, TickStatus.SKIPPED), tick.error
            if tick.status == status:
                return tick
        time.sleep(1.0)
    daemon_log = log.read_text()[-4000:] if log and log.exists() else ""
    pytest.fail(f"no {status} tick of the landing sensor within {timeout:.0f} s\n{daemon_log}")


def _partition_runs(instance) -> list:
    runs = instance.get_runs(filters=dg.RunsFilter(job_name="partition_job"))
    return sorted(runs, key=lambda r: r.tags["dagster/partition"])


@pytest.mark.slow
def test_daemon_ticks_the_landing_sensor_and_the_nightly_schedule_requests_yesterday(
    tmp_path, monkeypatch
):
    home = _home(tmp_path)
    landing = tmp_path / "data" / "landing"
    _land(landing)
    for var in ("LAPS_LANDING_URI", "LAPS_STORE_URI", "LAPS_CATALOG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("LAPS_DATA_ROOT", str(tmp_path / "data"))
    monkeypatch.setenv(SENSOR_INTERVAL_ENV, "1")  # the daemon's loop still takes ~5 s a tick
    monkeypatch.setenv("OMP_NUM_THREADS", "1")

    log = tmp_path / "daemon.log"
    with dg.DagsterInstance.from_config(str(home)) as instance:
        with demo.workspace(instance) as ctx:  # the code location the daemon loads
            sensor, _ = demo.landing_sensor_state(instance, ctx)
            assert sensor.min_interval_seconds == 1
            instance.start_sensor(sensor)
        started = time.time()
        with log.open("wb") as out:
            daemon = subprocess.Popen(
                [str(DAEMON), "run", "-w", str(REPO / "workspace.yaml")],
                cwd=REPO,
                env=os.environ.copy(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: the code server goes with it
            )
        try:
            _check_the_sensor(instance, sensor, landing, started, log)
        finally:
            _stop(daemon)
        _check_the_schedule(instance)


def _check_the_sensor(instance, sensor, landing, started, log) -> None:
    # one tick sees three station-days of two stations on two dates
    first = _wait_for_tick(instance, sensor, started, TickStatus.SUCCESS, log=log)
    assert sorted(instance.get_dynamic_partitions("date")) == ["2026-03-01", "2026-03-02"]
    assert sorted(instance.get_dynamic_partitions("station")) == ["station-a", "station-b"]
    runs = _partition_runs(instance)
    assert [r.tags["dagster/partition"] for r in runs] == [
        "2026-03-01|station-a",
        "2026-03-01|station-b",
        "2026-03-02|station-a",
    ]
    assert len(first.run_ids) == 3 and set(first.run_ids) == {r.run_id for r in runs}
    for run in runs:
        date, station = run.tags["dagster/partition"].split("|")
        assert run.status == dg.DagsterRunStatus.QUEUED  # requested, never started
        assert run.tags["dagster/partition/date"] == date
        assert run.tags["dagster/partition/station"] == station
        assert run.tags["laps/files"] == str(len(LANDED[(station, date)]))
        assert run.tags["dagster/sensor_name"] == "landing_sensor"
        assert run.tags[STAGES_TAG].startswith("ingest,chunks,tracks")

    # nothing new: a skipped tick, no run
    skipped = _wait_for_tick(instance, sensor, first.timestamp, TickStatus.SKIPPED, log=log)
    assert skipped.skip_reason == "no newly landed files"
    assert len(_partition_runs(instance)) == 3

    # a file of one station-day changes size: one run for that partition only
    with (landing / "station-a" / "2026-03-02" / "a3.mp4").open("ab") as f:
        f.write(b" and a few more bytes")
    again = _wait_for_tick(instance, sensor, skipped.timestamp, TickStatus.SUCCESS, log=log)
    new = [r for r in _partition_runs(instance) if r.run_id in set(again.run_ids)]
    assert [r.tags["dagster/partition"] for r in new] == ["2026-03-02|station-a"]
    assert len(_partition_runs(instance)) == 4


def _check_the_schedule(instance) -> None:
    when = datetime(2026, 3, 3, 2, 0, tzinfo=UTC)  # 02:00 UTC, the cron's time
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=when, repository_def=defs.get_repository_def()
    ) as ctx:
        result = nightly_schedule.evaluate_tick(ctx)
    assert [r.partition_key for r in result.run_requests] == [
        "2026-03-02|station-a",
        "2026-03-02|station-b",
    ]
    assert "2026-03-02" in instance.get_dynamic_partitions("date")
    # a day nobody filmed: registered, so the runs can be launched (they fail at videos)
    when = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=when, repository_def=defs.get_repository_def()
    ) as ctx:
        result = nightly_schedule.evaluate_tick(ctx)
    assert len(result.run_requests) == 2
    assert "2026-03-09" in instance.get_dynamic_partitions("date")


def _stop(daemon: subprocess.Popen) -> None:
    """End the daemon's process group (the daemon, its code server), SIGKILL if it lingers."""
    if daemon.poll() is None:
        os.killpg(daemon.pid, signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(daemon.pid, signal.SIGKILL)
            daemon.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):  # stragglers (a code server that outlived it)
        os.killpg(daemon.pid, signal.SIGKILL)

