"""`make demo`'s driver end to end on tiny samples: sensor, runs, training, evaluation, summary."""

import shutil
from pathlib import Path

import dagster as dg
import pytest

from assets import demo
from assets.partitions import date_station

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_demo_runs_everything_and_evaluates(tmp_path, monkeypatch, capsys):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("LAPS_DATA_ROOT", str(tmp_path / "data"))
    assert demo.main(["--videos", "1", "--seconds", "10"]) == 0
    out = capsys.readouterr().out
    assert "segments vs ground truth, station-a" in out
    assert "boundary_f1@1.0" in out
    for table in ("videos", "windows", "codes", "energy", "segments"):
        assert table in out
    data = tmp_path / "data"
    # the instance's partitions are exactly the landed station-days (dates and stations are
    # dynamic, registered from the sensor's requests): nothing else shows as missing in the UI
    landed = sorted(f"{d.name}|{d.parent.name}" for d in (data / "landing").glob("*/*"))
    assert len(landed) == 2 and "registered dates: " in out
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert sorted(date_station.get_partition_keys(dynamic_partitions_store=instance)) == landed
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
    # a second run reuses what is there and still succeeds
    assert demo.main(["--videos", "1", "--seconds", "10"]) == 0


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
