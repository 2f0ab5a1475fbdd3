"""A step that fails on a transient store fault is retried by its Dagster retry policy and then
succeeds: the real SeaweedFS server behind the fault-injecting proxy answers the first upload
with S3's throttling reply (503 SlowDown), the storage layer is told not to retry on its own
(one attempt per request and per operation), so the fault reaches the ``videos`` step; Dagster
waits the policy's backoff, runs the step again, and the partition ends with exactly the rows
an undisturbed run writes."""

import dagster as dg
import pytest
from faultproxy import FaultProxy
from videogen import make_video

from assets import ingest
from assets.partitions import partition_key, register
from assets.resources import LapsConfig, LapsStorage
from assets.retries import STORE_RETRY
from pipeline.io.storage import open_storage
from pipeline.io.tables import read_partition

pytestmark = [pytest.mark.s3, pytest.mark.slow]

DATE, STATION = "2026-03-02", "st-retry"


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def _materialize(tmp_path, base: str) -> dg.ExecuteInProcessResult:
    instance = dg.DagsterInstance.ephemeral()
    register(instance, [(DATE, STATION)])
    return dg.materialize(
        [ingest.videos],
        instance=instance,
        partition_key=str(partition_key(DATE, STATION)),
        resources={
            "storage": LapsStorage(
                data_root=str(tmp_path), landing_uri=f"{base}/landing", store_uri=f"{base}/store"
            ),
            "laps_config": LapsConfig(),
        },
        raise_on_error=False,
    )


def test_a_throttled_upload_fails_the_step_once_and_the_retry_succeeds(
    s3_server, tmp_path, monkeypatch
):
    base = f"s3://{s3_server.bucket}/step-retry"
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    make_video(tmp_path / "a.mp4", frames=45)
    open_storage(f"{base}/landing").put_file(f"{STATION}/{DATE}/a.mp4", tmp_path / "a.mp4")

    with FaultProxy(("127.0.0.1", _port(s3_server.endpoint_url))) as proxy:
        # every S3 request of the run goes through the proxy, and nothing below Dagster retries
        monkeypatch.setenv("LAPS_S3_ENDPOINT_URL", proxy.endpoint_url)
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint_url)
        monkeypatch.setenv("LAPS_S3_MAX_ATTEMPTS", "1")
        monkeypatch.setenv("LAPS_S3_OPERATION_ATTEMPTS", "1")
        fault = proxy.slowdown(1, match=lambda method, target: method == "PUT")
        result = _materialize(tmp_path, base)
        assert fault.applied == 1  # the fault really hit an upload of the first attempt
    for k, v in s3_server.env().items():  # read back from the server itself
        monkeypatch.setenv(k, v)

    assert result.success
    types = [e.event_type for e in result.all_events]
    assert types.count(dg.DagsterEventType.STEP_UP_FOR_RETRY) == 1
    assert types.count(dg.DagsterEventType.STEP_RESTARTED) == 1
    assert types.count(dg.DagsterEventType.STEP_FAILURE) == 0
    up = dg.DagsterEventType.STEP_UP_FOR_RETRY
    (retry,) = [e for e in result.all_events if e.event_type == up]
    # the store's error (S3's throttling answer) is what the step failed with
    assert "StorageAccessError" in retry.event_specific_data.error.to_string()
    # the policy's first wait (delay 10 s, +-jitter) was asked for, not an immediate retry
    assert retry.event_specific_data.seconds_to_wait > 0
    assert STORE_RETRY.delay == 10

    # the partition holds what an undisturbed run writes: one video, no duplicate from the retry
    store = open_storage(f"{base}/store")
    videos = read_partition(store, "videos", DATE, STATION).to_pylist()
    assert [v["file_name"] for v in videos] == ["a.mp4"]
    assert read_partition(store, "quarantine", DATE, STATION).num_rows == 0
