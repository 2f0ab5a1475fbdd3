"""The core's loggers reach the run's event log (``python_logs`` in both dagster.yaml files)."""

import shutil
from pathlib import Path

import dagster as dg
import yaml
from videogen import make_video

from assets import ingest
from assets.partitions import partition_key, register
from assets.resources import LapsConfig, LapsStorage

ROOT = Path(__file__).resolve().parents[2]


def _python_logs(path: Path) -> dict:
    return yaml.safe_load(path.read_text())["python_logs"]


def test_both_instances_manage_the_core_loggers():
    local, prod = _python_logs(ROOT / "dagster.yaml"), _python_logs(ROOT / "docker/dagster.yaml")
    assert local == prod
    assert {"pipeline", "models"} <= set(local["managed_python_loggers"])


def test_a_core_warning_during_a_materialization_is_in_the_run_events(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    day = tmp_path / "landing" / "st1" / "2026-02-01"
    make_video(day / "good.mp4", frames=40)
    (day / "corrupt.mp4").write_bytes(b"\x00garbage" * 64)  # pipeline.ingest logs a warning
    resources = {
        "storage": LapsStorage(
            data_root=str(tmp_path),
            landing_uri=str(tmp_path / "landing"),
            store_uri=str(tmp_path / "store"),
        ),
        "laps_config": LapsConfig(),
    }
    with dg.DagsterInstance.from_config(str(home)) as instance:
        register(instance, [("2026-02-01", "st1")])
        result = dg.materialize(
            [ingest.videos],
            partition_key=str(partition_key("2026-02-01", "st1")),
            instance=instance,
            resources=resources,
        )
        assert result.success
        records = instance.all_logs(result.run_id)
    warnings = [
        r
        for r in records
        if r.level == 30 and "quarantined" in r.user_message and "corrupt.mp4" in r.user_message
    ]
    assert warnings, [r.user_message for r in records if r.level >= 30]
    assert warnings[0].step_key == "videos"
