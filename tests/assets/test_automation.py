"""The jobs say which stages a run ran; the sensor's interval and the schedule's evaluation."""

import importlib
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from assets import automation
from assets.definitions import GROUP_JOBS, STAGE_ASSETS, STORE_JOBS, defs, stage_groups
from assets.partitions import register


def _assets(job_name: str) -> set[str]:
    job = defs.resolve_job_def(job_name)
    return {k.to_user_string() for k in job.asset_layer.selected_asset_keys}


def _checks(job_name: str) -> set:
    return set(defs.resolve_job_def(job_name).asset_layer.asset_graph.asset_check_keys)


def test_group_jobs_cover_the_partition_job_once_in_stage_order():
    order = list(STAGE_ASSETS)
    covered: list[str] = []
    last = -1
    all_checks: set = set()
    for name, stages in zip(GROUP_JOBS, stage_groups(), strict=True):
        job = defs.resolve_job_def(name)
        assert job.partitions_def is not None, name
        assert _assets(name) == {k for s in stages for k in STAGE_ASSETS[s]}, name
        assert job.tags[automation.STAGES_TAG] == ",".join(stages)
        idx = [order.index(s) for s in stages]
        assert idx == sorted(idx) and idx[0] > last, (name, stages)  # in stage order
        last = idx[-1]
        covered += [k for s in stages for k in STAGE_ASSETS[s]]
        # the checks of those assets run with them
        checks = _checks(name)
        assert checks and {c.asset_key.to_user_string() for c in checks} <= _assets(name)
        all_checks |= checks
    assert len(covered) == len(set(covered))  # exactly once
    assert all_checks == _checks("partition_job")
    assert set(covered) == _assets("partition_job")
    assert list(GROUP_JOBS) == ["ingest_job", "codes_segments_job", "publish_job"]
    # no stage sits in a group and in a store-wide job; together they are the stage list
    grouped = [s for g in stage_groups() for s in g]
    assert sorted(grouped + list(STORE_JOBS), key=order.index) == order


def test_every_job_tags_its_runs_with_its_stages():
    tags = {
        name: defs.resolve_job_def(name).tags[automation.STAGES_TAG]
        for name in ("partition_job", "train_tokenizer_job", "fit_library_job", "export_job")
    }
    assert tags["partition_job"] == ",".join(s for g in stage_groups() for s in g)
    assert tags["train_tokenizer_job"] == "tokenizer" and tags["fit_library_job"] == "library"
    assert tags["export_job"] == "export"


def test_sensor_interval_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv(automation.SENSOR_INTERVAL_ENV, raising=False)
    assert automation.sensor_interval() == 60
    monkeypatch.setenv(automation.SENSOR_INTERVAL_ENV, "2")
    assert automation.sensor_interval() == 2
    try:
        reloaded = importlib.reload(automation)
        assert reloaded.landing_sensor.minimum_interval_seconds == 2
    finally:
        monkeypatch.delenv(automation.SENSOR_INTERVAL_ENV)
        importlib.reload(automation)
    assert automation.landing_sensor.minimum_interval_seconds == 60


@pytest.mark.parametrize("raw", ["soon", "0", "-5", "1.5"])
def test_a_bad_sensor_interval_is_a_config_error_naming_the_variable(monkeypatch, raw):
    from pipeline.errors import ConfigError

    monkeypatch.setenv(automation.SENSOR_INTERVAL_ENV, raw)
    with pytest.raises(ConfigError, match=automation.SENSOR_INTERVAL_ENV):
        automation.sensor_interval()


def test_nightly_schedule_evaluated_without_a_scheduled_time_takes_today():
    with dg.instance_for_test() as instance:
        register(instance, [("2026-01-01", "st1")])
        before = datetime.now(UTC)
        with dg.build_schedule_context(
            instance=instance, repository_def=defs.get_repository_def()
        ) as ctx:
            result = automation.nightly_schedule.evaluate_tick(ctx)
        after = datetime.now(UTC)
        days = {(t - timedelta(days=1)).strftime("%Y-%m-%d") for t in (before, after)}
        assert [r.partition_key.split("|")[1] for r in result.run_requests] == ["st1"]
        assert {r.partition_key.split("|")[0] for r in result.run_requests} <= days
        assert set(instance.get_dynamic_partitions("date")) - {"2026-01-01"} <= days
