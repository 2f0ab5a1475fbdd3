"""`make demo`'s driver end to end on tiny samples: sensor, runs, training, evaluation, summary."""

import re
import shutil
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.scheduler.instigation import InstigatorStatus

from assets import demo
from assets.automation import STAGES_TAG, landing_sensor
from assets.definitions import defs
from assets.partitions import date_station
from assets.resources import LapsStorage
from pipeline.io import catalog
from pipeline.io.settings import LapsSettings

REPO = Path(__file__).resolve().parents[2]


def made(out: str) -> dict[str, int]:
    """The rows of the summary's "what was made" table, by table name."""
    table = out[out.index("laps demo: what was made") :]
    rows = re.findall(r"^│ (\w+)\s+│\s+(\d+) │$", table, flags=re.MULTILINE)
    return {name: int(n) for name, n in rows}


@pytest.mark.slow
def test_demo_runs_everything_and_evaluates(tmp_path, monkeypatch, capsys):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("LAPS_DATA_ROOT", str(tmp_path / "data"))
    for var in ("LAPS_LANDING_URI", "LAPS_STORE_URI", "LAPS_CATALOG"):
        monkeypatch.delenv(var, raising=False)
    assert demo.main(["--videos", "1", "--seconds", "10"]) == 0
    out = capsys.readouterr().out
    assert "segments vs ground truth, station-a" in out
    assert "boundary_f1@1.0" in out
    # what the summary says was made, against the catalog and the stages' own rules
    rows = made(out)
    settings = LapsSettings.from_env()
    con = catalog.connect(settings.catalog_path, settings.store())
    try:
        (kept,) = con.execute("select count(*) from windows where not gated").fetchone()
    finally:
        con.close()
    assert rows["videos"] == 2 and rows["chunks"] == 2  # one 10 s video per station
    assert rows["failures"] == 0 and rows["quarantine"] == 0
    assert rows["windows"] > 0 and rows["codes"] == kept > 0  # every non-gated window
    assert rows["energy"] == rows["codes"]  # one energy value per coded window
    assert rows["segments"] > 0
    assert rows["segment_labels"] == rows["segments"] == rows["segment_clusters"]
    data = tmp_path / "data"
    # the instance's partitions are exactly the landed station-days (dates and stations are
    # dynamic, registered from the sensor's requests): nothing else shows as missing in the UI
    landed = sorted(f"{d.name}|{d.parent.name}" for d in (data / "landing").glob("*/*"))
    assert len(landed) == 2 and "registered dates: " in out
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert sorted(date_station.get_partition_keys(dynamic_partitions_store=instance)) == landed
        runs = _launched_runs(instance, landed)
        cursor = _sensor_cursor(instance)
        # the sensor, turned on now, starts from the demo's cursor: it requests nothing
        with dg.build_sensor_context(
            instance=instance, resources={"storage": LapsStorage()}, definitions=defs,
            cursor=cursor,
        ) as ctx:  # fmt: skip
            assert not landing_sensor(ctx).run_requests
    assert f"dataset card:   {data / 'publish/README.md'}" in out
    tars = list((data / "publish/shards").rglob("clips-*.tar"))
    assert len(tars) >= 2  # one partition per station, at least one shard each
    assert "latent actions:" in out
    # the primitive library, fitted by fit_library_job between the partition runs (10 s
    # samples: enough segments for two clusters of two; 6 s gave 3 or 4)
    assert (data / "models/primitive_library/current.json").is_file()
    assert (data / "publish/clusters.parquet").is_file() and "primitives:" in out
    assert f"gallery:        {data / 'publish/gallery/index.html'}" in out
    info = data / "publish/lerobot/meta/info.json"
    assert info.is_file() and f"LeRobot v3:     {data / 'publish/lerobot'}/" in out
    # a second run finds nothing new: it says so, launches no run, and still succeeds
    assert demo.main(["--videos", "1", "--seconds", "10"]) == 0
    again = capsys.readouterr().out
    assert "no new files since the last demo run; nothing to process" in again
    assert made(again) == rows
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert {r.run_id for r in instance.get_runs()} == runs


def _launched_runs(instance: dg.DagsterInstance, landed: list[str]) -> set[str]:
    """The demo's runs: launched through the instance from the workspace's code location (so
    the runs list and the timeline show them with their job), a run per group and partition,
    the store-wide jobs once, every one succeeded and tagged with its stages."""
    runs = instance.get_runs()
    jobs = sorted((r.job_name, r.tags.get("dagster/partition", "")) for r in runs)
    per_partition = ("ingest_job", "codes_segments_job", "publish_job")
    store_wide = ("train_tokenizer_job", "fit_library_job", "export_job")
    assert jobs == sorted([(j, pk) for j in per_partition for pk in landed]
                          + [(j, "") for j in store_wide])  # fmt: skip
    for run in runs:
        assert run.status == dg.DagsterRunStatus.SUCCESS, run.job_name
        assert run.remote_job_origin is not None  # launched from a code location
        assert run.remote_job_origin.location_name == "assets.definitions:defs"
        assert run.tags[STAGES_TAG] and run.tags[demo.DEMO_TAG] == "true"
    return {r.run_id for r in runs}


def _sensor_cursor(instance: dg.DagsterInstance) -> str:
    """The landing sensor's cursor where the daemon keeps it; the sensor stays off."""
    (state,) = [
        s for s in instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        if s.name == landing_sensor.name
    ]  # fmt: skip
    assert state.status == InstigatorStatus.STOPPED
    assert state.instigator_data.cursor
    return state.instigator_data.cursor


def test_demo_terminal_shows_warnings_not_the_core_info_logs():
    import io
    import logging

    stream = io.StringIO()
    handler = demo.terminal_logging(stream)
    core = logging.getLogger("pipeline.stages")
    level = core.level
    core.setLevel(logging.INFO)  # as dagster.yaml's python_logs does
    try:
        core.info("stage tracks: 2026-01-01/station-a")
        core.warning("calibration failed")
    finally:
        core.setLevel(level)
        logging.getLogger().removeHandler(handler)
    assert stream.getvalue() == "WARNING pipeline.stages: calibration failed\n"
