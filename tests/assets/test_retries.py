"""The assets that touch the store or a network carry step retry policies with exponential
backoff; a failure that says the input is wrong (no video landed, a bad config, an error of
the pipeline that no retry mends) is not retried."""

import dagster as dg
import pytest

from assets import ingest
from assets.definitions import defs
from assets.partitions import partition_key, register
from assets.resources import LapsConfig, LapsStorage
from assets.retries import fail_once_on_bad_input, transient
from pipeline.errors import (
    CalibrationError,
    ConfigError,
    LanguageError,
    StorageAccessError,
    StorageError,
    StorageKeyError,
    StorageKeyNameError,
)

STORE_ASSETS = (
    "videos", "chunks", "energy", "segments", "segment_clips",
    "training_data", "dataset_card", "lerobot_dataset",
)  # fmt: skip
NETWORK_ASSETS = ("segment_labels",)


@pytest.mark.parametrize("name", STORE_ASSETS + NETWORK_ASSETS)
def test_store_and_network_assets_retry_with_exponential_backoff(name: str) -> None:
    policy = defs.get_assets_def(dg.AssetKey(name)).op.retry_policy
    assert policy is not None, f"{name} has no retry policy"
    assert policy.max_retries >= 2 and policy.delay and policy.delay >= 5
    assert policy.backoff == dg.Backoff.EXPONENTIAL
    if name in NETWORK_ASSETS:
        store = defs.get_assets_def(dg.AssetKey("videos")).op.retry_policy
        assert policy.delay > store.delay  # an endpoint restart takes longer than a store hiccup


def test_partition_job_runs_them_with_their_policies() -> None:
    job = defs.resolve_job_def("partition_job")
    for name in ("videos", "segmentation", "segment_labels", "training_data"):
        node = job.graph.node_named(name)
        assert node.definition.retry_policy is not None, name


def _materialize_videos(tmp_path, station: str, config: LapsConfig) -> dg.ExecuteInProcessResult:
    """``videos`` of (2026-02-09, station) over ``tmp_path``'s landing and store, not raising."""
    instance = dg.DagsterInstance.ephemeral()
    register(instance, [("2026-02-09", station)])
    (tmp_path / "landing").mkdir(exist_ok=True)
    return dg.materialize(
        [ingest.videos],
        partition_key=str(partition_key("2026-02-09", station)),
        instance=instance,
        resources={
            "storage": LapsStorage(
                data_root=str(tmp_path),
                landing_uri=str(tmp_path / "landing"),
                store_uri=str(tmp_path / "store"),
            ),
            "laps_config": config,
        },
        raise_on_error=False,
    )


def test_no_landed_video_fails_once_without_retries(tmp_path) -> None:
    result = _materialize_videos(tmp_path, "st-empty", LapsConfig())
    assert not result.success
    types = [e.event_type for e in result.all_events]
    assert dg.DagsterEventType.STEP_FAILURE in types
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in types


def test_bad_config_fails_once_naming_the_value(tmp_path) -> None:
    # a value the core refuses (the Dagster schema cannot say "at least 0"): retrying the same
    # mistake three times with backoff would only delay the failure
    landing = tmp_path / "landing" / "st-a" / "2026-02-09"
    landing.mkdir(parents=True)
    (landing / "a.mp4").write_bytes(b"not a video, never read: the config fails first")
    result = _materialize_videos(tmp_path, "st-a", LapsConfig(clips={"short_side": -5}))
    assert not result.success
    types = [e.event_type for e in result.all_events]
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in types
    (failure,) = [e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE]
    message = failure.step_failure_data.user_failure_data.description
    assert message.startswith("ConfigError: laps_config: clips.short_side=-5"), message


@pytest.mark.parametrize(
    ("error", "retried"),
    [
        (StorageError("connection reset", "s3://b/k"), True),
        (StorageAccessError("busy", "s3://b/k", "SlowDown"), True),
        (StorageAccessError("refused", "s3://b/k", "AccessDenied"), False),
        (StorageKeyError("s3://b/missing"), False),
        (StorageKeyNameError("../x", "leads out of the root"), False),
        (LanguageError("endpoint down"), True),
        (ConfigError("beta must be positive"), False),
        (CalibrationError("median thr_on=-0.4 is not positive"), False),
        (OSError("disk hiccup"), True),  # not raised on purpose: the policy's bounded retries
    ],
)
def test_only_errors_a_retry_may_mend_are_retried(error, retried) -> None:
    assert transient(error) is retried
    expected = type(error) if retried else dg.Failure
    with pytest.raises(expected) as caught, fail_once_on_bad_input():
        raise error
    if not retried:
        assert caught.value.allow_retries is False
        assert str(error) in caught.value.description
