import shutil
from datetime import UTC, datetime

import dagster as dg
import pytest
from videogen import make_video

from assets import ingest, motion
from assets.automation import landing_sensor, nightly_schedule
from assets.definitions import defs
from assets.partitions import date_station, partition_key, register
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
    register(instance, [("2026-02-01", "st1")])
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


def _added(result) -> dict[str, list[str]]:
    reqs = result.dynamic_partitions_requests
    return {r.partitions_def_name: list(r.partition_keys) for r in reqs}


def test_sensor_registers_dates_and_stations_and_requests_changed_partitions(landed):
    instance = dg.DagsterInstance.ephemeral()
    res = {"storage": _resources(landed)["storage"]}
    with dg.build_sensor_context(instance=instance, resources=res) as ctx:
        first = landing_sensor(ctx)
    assert [r.partition_key for r in first.run_requests] == [
        str(partition_key("2026-02-01", "st1"))
    ]
    assert _added(first) == {"date": ["2026-02-01"], "station": ["st1"]}
    for req in first.dynamic_partitions_requests:  # what the daemon does before the runs
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
    # same files again: nothing to do, nothing to register
    with dg.build_sensor_context(instance=instance, resources=res, cursor=first.cursor) as ctx2:
        second = landing_sensor(ctx2)
    assert second.run_requests == [] and second.dynamic_partitions_requests == []
    # a new file in a new station's folder, on a new date, triggers exactly that partition and
    # registers only what is new; another new date of a known station registers just the date
    new = landed / "landing" / "st9" / "2026-02-03"
    new.mkdir(parents=True)
    shutil.copy(landed / "landing" / "st1" / "2026-02-01" / "b.mp4", new / "x.mp4")
    later = landed / "landing" / "st1" / "2026-02-04"
    later.mkdir(parents=True)
    shutil.copy(landed / "landing" / "st1" / "2026-02-01" / "b.mp4", later / "y.mp4")
    with dg.build_sensor_context(instance=instance, resources=res, cursor=first.cursor) as ctx3:
        third = landing_sensor(ctx3)
    assert [r.partition_key for r in third.run_requests] == [
        str(partition_key("2026-02-03", "st9")),
        str(partition_key("2026-02-04", "st1")),
    ]
    assert _added(third) == {"date": ["2026-02-03", "2026-02-04"], "station": ["st9"]}


def test_the_sensors_run_requests_resolve_against_its_own_partition_requests(landed):
    """As the daemon evaluates a tick: every requested partition must exist once the tick's
    dynamic-partition requests are applied (an unregistered date would fail the tick)."""
    res = {"storage": _resources(landed)["storage"]}
    with dg.instance_for_test() as instance:
        with dg.build_sensor_context(instance=instance, instance_ref=instance.get_ref(),
                                     resources=res, definitions=defs) as ctx:  # fmt: skip
            data = landing_sensor.evaluate_tick(ctx)
        assert [r.partition_key for r in data.run_requests] == ["2026-02-01|st1"]
        assert data.run_requests[0].tags["dagster/partition/date"] == "2026-02-01"
        # the UI's partition set is what landed: one date, one station, one partition
        assert instance.get_dynamic_partitions("date") == []  # the daemon applies the requests
        for req in data.dynamic_partitions_requests:
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        keys = date_station.get_partition_keys(dynamic_partitions_store=instance)
        assert keys == ["2026-02-01|st1"]


def test_nightly_schedule_registers_yesterday_and_requests_it_per_station():
    when = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
    repo = defs.get_repository_def()

    def tick(instance):  # the context is closed here: it opens an instance of its own
        with dg.build_schedule_context(instance=instance, scheduled_execution_time=when,
                                       repository_def=repo) as ctx:  # fmt: skip
            return nightly_schedule.evaluate_tick(ctx)

    with dg.instance_for_test() as instance:
        skipped = tick(instance)
        assert skipped.run_requests == [] and "no stations registered" in skipped.skip_message
        assert instance.get_dynamic_partitions("date") == []
        register(instance, [("2026-11-01", "st1"), ("2026-11-01", "st2")])
        # the requests resolve (as the daemon resolves them) only if yesterday was registered
        data = tick(instance)
        assert [r.partition_key for r in data.run_requests] == ["2026-11-29|st1", "2026-11-29|st2"]
        assert sorted(instance.get_dynamic_partitions("date")) == ["2026-11-01", "2026-11-29"]
        # a second tick for the same day registers nothing twice
        tick(instance)
        assert sorted(instance.get_dynamic_partitions("date")) == ["2026-11-01", "2026-11-29"]


@pytest.mark.parametrize("stray", [None, "notes.txt"])
def test_a_partition_with_no_landed_video_fails_and_nothing_downstream_runs(tmp_path, stray):
    """An empty landing folder (or one with only a file that is not a video) for the partition:
    the videos step fails saying so, writes no table, and chunks and tracks do not run."""
    day = tmp_path / "landing" / "st1" / "2026-11-30"
    day.mkdir(parents=True)
    if stray:
        (day / stray).write_text("not a video")
    make_video(tmp_path / "landing" / "st1" / "2026-11-29" / "a.mp4", frames=40)  # another day
    instance = dg.DagsterInstance.ephemeral()
    register(instance, [("2026-11-30", "st1")])
    result = dg.materialize(
        [ingest.videos, ingest.chunks, motion.tracks],
        partition_key=str(partition_key("2026-11-30", "st1")),
        instance=instance,
        resources=_resources(tmp_path),
        raise_on_error=False,
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_key == "videos"
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith(f"no video landed for 2026-11-30/st1 under {tmp_path / 'landing'}")
    assert ("1 file(s) there not taken" in message) == bool(stray)
    assert {e.step_key for e in result.all_events if e.is_step_start} == {"videos"}
    assert result.get_asset_materialization_events() == []
    store = open_storage(tmp_path / "store")
    for name in ("videos", "quarantine", "chunks"):
        assert read_partition(store, name, "2026-11-30", "st1") is None


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
