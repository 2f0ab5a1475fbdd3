import shutil

import dagster as dg
import pytest
from videogen import make_video

from assets import ingest
from assets.automation import landing_sensor
from assets.definitions import defs
from assets.partitions import partition_key
from assets.resources import LapsConfig, LapsStorage
from pipeline.io import catalog
from pipeline.io.storage import open_storage
from pipeline.io.tables import read_partition


@pytest.fixture()
def landed(tmp_path):
    day = tmp_path / "landing" / "st1" / "2026-02-01"
    make_video(day / "a.mp4", frames=90)
    make_video(day / "b.mp4", frames=40)
    (day / "corrupt.mp4").write_bytes(b"\x00garbage" * 64)
    return tmp_path


def _resources(root):
    return {
        "storage": LapsStorage(
            data_root=str(root), landing_uri=str(root / "landing"), store_uri=str(root / "store")
        ),
        "laps_config": LapsConfig(),
    }


def test_definitions_load():
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert {"videos", "chunks"} <= keys
    assert defs.resolve_job_def("partition_job") is not None
    assert defs.resolve_sensor_def("landing_sensor") is not None
    assert defs.resolve_schedule_def("nightly_schedule") is not None


def test_materialize_ingest_partition(landed):
    instance = dg.DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("station", ["st1"])
    pk = str(partition_key("2026-02-01", "st1"))
    result = dg.materialize(
        [ingest.videos, ingest.chunks],
        partition_key=pk,
        instance=instance,
        resources=_resources(landed),
    )
    assert result.success
    mats = result.asset_materializations_for_node("videos")
    meta = mats[0].metadata
    assert meta["videos"].value == 2 and meta["quarantined"].value == 1
    checks = result.get_asset_check_evaluations()
    assert checks and all(c.passed for c in checks)
    store = open_storage(landed / "store")
    assert read_partition(store, "chunks", "2026-02-01", "st1").num_rows == 2
    # a rerun of the same partition gives the same rows
    before = read_partition(store, "videos", "2026-02-01", "st1").to_pylist()
    assert dg.materialize(
        [ingest.videos, ingest.chunks],
        partition_key=pk,
        instance=instance,
        resources=_resources(landed),
    ).success
    assert read_partition(store, "videos", "2026-02-01", "st1").to_pylist() == before
    cols, rows = catalog.query(
        landed / "cat.duckdb", store, "select count(*), min(station) from videos"
    )
    assert rows == [(2, "st1")]
    cols, rows = catalog.query(landed / "cat.duckdb", store, "select reason from quarantine")
    assert rows == [("unreadable",)]


def test_sensor_registers_stations_and_requests_changed_partitions(landed):
    instance = dg.DagsterInstance.ephemeral()
    res = {"storage": _resources(landed)["storage"]}
    with dg.build_sensor_context(instance=instance, resources=res) as ctx:
        first = landing_sensor(ctx)
    assert [r.partition_key for r in first.run_requests] == [
        str(partition_key("2026-02-01", "st1"))
    ]
    added = first.dynamic_partitions_requests[0]
    assert list(added.partition_keys) == ["st1"]
    instance.add_dynamic_partitions("station", list(added.partition_keys))
    # same files again: nothing to do
    with dg.build_sensor_context(instance=instance, resources=res, cursor=first.cursor) as ctx2:
        assert landing_sensor(ctx2).run_requests == []
    # a new file in a new station's folder triggers exactly that partition
    new = landed / "landing" / "st9" / "2026-02-03"
    new.mkdir(parents=True)
    shutil.copy(landed / "landing" / "st1" / "2026-02-01" / "b.mp4", new / "x.mp4")
    with dg.build_sensor_context(instance=instance, resources=res, cursor=first.cursor) as ctx3:
        third = landing_sensor(ctx3)
    assert [r.partition_key for r in third.run_requests] == [
        str(partition_key("2026-02-03", "st9"))
    ]
    assert list(third.dynamic_partitions_requests[0].partition_keys) == ["st9"]


def test_partition_keys_split_both_ways():
    from assets.partitions import split_key

    key = partition_key("2026-02-01", "st-1")
    assert split_key(key) == ("2026-02-01", "st-1")
    assert split_key(str(key)) == ("2026-02-01", "st-1")
    with pytest.raises(ValueError, match="not a date"):
        split_key("2026-02-01")


def test_the_landing_sensor_digest_takes_names_that_are_not_utf8():
    from assets.automation import _digest

    assert len(_digest(["st1/2026-01-05/caf\udce9.mp4:10", "st1/a.mp4:3"])) == 16
