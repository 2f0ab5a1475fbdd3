"""S3Storage through a fault-injecting proxy (tests/faultproxy.py) in front of the real SeaweedFS
server: connection resets (also in the middle of a multipart part or of a download), 503
SlowDown answers and permanent faults, for uploads, downloads, listings and pyarrow's Parquet
reads and writes. Transient faults are ridden out with identical bytes; a permanent fault is one
clear StorageError after a bounded number of requests, and what was published stays intact."""

from __future__ import annotations

import io
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from boto3.s3.transfer import TransferConfig
from faultproxy import FaultProxy
from s3server import S3ServerInfo

from pipeline.errors import ConfigError, StorageAccessError
from pipeline.io.storage import LocalStorage, S3Settings, S3Storage
from pipeline.io.storage.s3 import check_reachable

pytestmark = pytest.mark.s3

MiB = 2**20


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def s3_settings(server: S3ServerInfo, endpoint: str, **overrides: object) -> S3Settings:
    """Two attempts per request, three per operation, tiny waits (the faults are counted)."""
    values: dict[str, object] = {
        "endpoint_url": endpoint, "region": server.region,
        "access_key_id": server.access_key_id, "secret_access_key": server.secret_access_key,
        "max_attempts": 2, "operation_attempts": 3, "backoff_seconds": 0.01,
        "connect_timeout": 2, "read_timeout": 10,
    }  # fmt: skip
    values.update(overrides)
    return S3Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def proxy(s3_server: S3ServerInfo) -> Iterator[FaultProxy]:
    with FaultProxy(("127.0.0.1", port_of(s3_server.endpoint_url))) as p:
        yield p


@pytest.fixture
def stores(s3_server: S3ServerInfo, proxy: FaultProxy) -> tuple[S3Storage, S3Storage]:
    """The same fresh prefix through the proxy and directly (to check what is really stored)."""
    uri = f"s3://{s3_server.bucket}/faults-{uuid.uuid4().hex[:10]}"
    through = S3Storage(uri, settings=s3_settings(s3_server, proxy.endpoint_url))
    direct = S3Storage(uri, settings=s3_settings(s3_server, s3_server.endpoint_url))
    return through, direct


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Multipart uploads from 5 MiB on, in 5 MiB parts (S3's minimum part size)."""
    config = TransferConfig(multipart_threshold=5 * MiB, multipart_chunksize=5 * MiB)
    monkeypatch.setattr("pipeline.io.storage.s3._TRANSFER", config)


def random_file(path: Path, size: int) -> Path:
    path.write_bytes(uuid.uuid4().bytes * (size // 16))
    return path


def is_part_upload(method: str, target: str) -> bool:
    return method == "PUT" and "partNumber=" in target


def unfinished_uploads(direct: S3Storage) -> list[str]:
    resp = direct.client.list_multipart_uploads(Bucket=direct.bucket, Prefix=direct.prefix + "/")
    return [u["Key"] for u in resp.get("Uploads", [])]


@pytest.mark.parametrize("kind", ["reset", "slowdown"])
def test_transient_faults_are_ridden_out_with_identical_bytes(
    stores: tuple[S3Storage, S3Storage], proxy: FaultProxy, tmp_path: Path, kind: str,
    small_parts: None,
) -> None:  # fmt: skip
    """Three faults per operation: more than botocore's two attempts per request, so each
    operation needs its own retry on top."""
    through, direct = stores
    small = random_file(tmp_path / "small.bin", 64 * 1024)
    big = random_file(tmp_path / "big.bin", 11 * MiB)

    def faulty(op):  # noqa: ANN001, ANN202 - a tiny local helper
        fault = getattr(proxy, kind)(3)
        result = op()
        assert fault.applied == 3 and fault.remaining == 0
        return result

    faulty(lambda: through.write_bytes("a/bytes.bin", b"payload"))
    assert direct.read_bytes("a/bytes.bin") == b"payload"
    assert faulty(lambda: through.read_bytes("a/bytes.bin")) == b"payload"
    assert faulty(lambda: through.exists("a/bytes.bin")) is True
    assert faulty(lambda: through.exists("a/missing.bin")) is False
    faulty(lambda: through.put_file("a/small.bin", small))
    faulty(lambda: through.put_file("a/big.bin", big))  # multipart: 3 parts
    assert direct.read_bytes("a/small.bin") == small.read_bytes()
    assert direct.read_bytes("a/big.bin") == big.read_bytes()
    listed = faulty(lambda: through.list("a/"))
    assert [(i.key, i.size) for i in listed] == [
        ("a/big.bin", big.stat().st_size), ("a/bytes.bin", 7), ("a/small.bin", 64 * 1024),
    ]  # fmt: skip

    def download() -> bytes:
        with through.local_path("a/big.bin") as path:
            return path.read_bytes()

    assert faulty(download) == big.read_bytes()
    faulty(lambda: through.delete("a/small.bin"))
    assert not direct.exists("a/small.bin")
    assert unfinished_uploads(direct) == []


def test_a_reset_in_the_middle_of_a_part_upload_is_retried(
    stores: tuple[S3Storage, S3Storage], proxy: FaultProxy, tmp_path: Path, small_parts: None
) -> None:
    through, direct = stores
    big = random_file(tmp_path / "big.bin", 11 * MiB)
    fault = proxy.reset(3, match=is_part_upload, after_bytes=MiB)  # 1 MiB of a part reached S3
    through.put_file("m/big.bin", big)
    assert fault.applied == 3
    head = direct.client.head_object(Bucket=direct.bucket, Key=f"{direct.prefix}/m/big.bin")
    assert head["ETag"].strip('"').endswith("-3"), "a 3-part multipart upload"
    assert direct.read_bytes("m/big.bin") == big.read_bytes()
    assert unfinished_uploads(direct) == [], "failed attempts' uploads are aborted"


def test_bodies_cut_off_mid_download_are_read_again(
    stores: tuple[S3Storage, S3Storage], proxy: FaultProxy, tmp_path: Path
) -> None:
    through, direct = stores
    data = random_file(tmp_path / "d.bin", 3 * MiB).read_bytes()
    direct.write_bytes("d/d.bin", data)
    is_get = lambda method, target: method == "GET"  # noqa: E731
    cut = proxy.truncate(2, after_bytes=256 * 1024, match=is_get)
    assert through.read_bytes("d/d.bin") == data
    assert cut.applied == 2
    cut = proxy.truncate(2, after_bytes=256 * 1024, match=is_get)
    with through.local_path("d/d.bin") as path:
        assert path.read_bytes() == data
    assert cut.applied == 2


def test_pyarrow_parquet_writes_and_reads_ride_out_faults(
    s3_server: S3ServerInfo, proxy: FaultProxy
) -> None:
    uri = f"s3://{s3_server.bucket}/faults-{uuid.uuid4().hex[:10]}"
    through = S3Storage(uri, settings=s3_settings(s3_server, proxy.endpoint_url, max_attempts=5))
    direct = S3Storage(uri, settings=s3_settings(s3_server, s3_server.endpoint_url))
    table = pa.table(
        {"x": pa.array(range(50_000), pa.int64()), "s": [str(i) for i in range(50_000)]}
    )
    fs, base = through.arrow_filesystem()
    fs.create_dir(f"{base}/pq")
    resets, slow = proxy.reset(1), proxy.slowdown(1)  # pyarrow's backoff: up to 1 s, 2 s
    pq.write_table(table, f"{base}/pq/t.parquet", filesystem=fs)
    assert resets.applied == 1 and slow.applied == 1
    stored = direct.read_bytes("pq/t.parquet")
    assert pq.read_table(io.BytesIO(stored)).equals(table)
    resets, slow = proxy.reset(1), proxy.slowdown(1)  # pyarrow's backoff: up to 1 s, 2 s
    assert pq.read_table(f"{base}/pq/t.parquet", filesystem=fs).equals(table)
    with fs.open_input_file(f"{base}/pq/t.parquet") as f:
        assert f.read() == stored
    assert resets.applied == 1 and slow.applied == 1
    # a permanent fault: pyarrow gives up after its attempts, the stored file is untouched
    short = S3Storage(uri, settings=s3_settings(s3_server, proxy.endpoint_url, max_attempts=2))
    fs, base = short.arrow_filesystem()
    proxy.reset(None)
    with pytest.raises(OSError):
        pq.write_table(table.slice(0, 10), f"{base}/pq/t.parquet", filesystem=fs)
    proxy.clear()
    assert direct.read_bytes("pq/t.parquet") == stored


def test_a_permanent_reset_is_one_clear_error_and_the_published_object_stays(
    stores: tuple[S3Storage, S3Storage], proxy: FaultProxy, tmp_path: Path
) -> None:
    through, direct = stores
    direct.write_bytes("p/table.parquet", b"published v1")
    proxy.reset(None)
    with pytest.raises(StorageAccessError) as info:
        through.write_bytes("p/table.parquet", b"v2 that never lands")
    err = info.value
    message = str(err)
    assert "\n" not in message
    assert message.startswith("S3 write failed after 3 attempts, endpoint http://127.0.0.1:")
    assert message.endswith("(ConnectionClosedError): " + through.uri("p/table.parquet"))
    assert err.__cause__ is None and err.__context__ is None, "no chained botocore traceback"
    assert len(proxy.actions("reset")) == 2 * 3, "bounded: 2 attempts x 3 operation attempts"
    small = random_file(tmp_path / "s.bin", 1024)
    with pytest.raises(StorageAccessError, match="S3 upload failed after 3 attempts"):
        through.put_file("p/table.parquet", small)
    with pytest.raises(StorageAccessError, match="S3 list failed"):
        through.list("p/")
    assert direct.read_bytes("p/table.parquet") == b"published v1"


def test_a_multipart_upload_whose_parts_always_fail_is_aborted(
    stores: tuple[S3Storage, S3Storage], proxy: FaultProxy, tmp_path: Path, small_parts: None
) -> None:
    through, direct = stores
    direct.write_bytes("p/clip.mp4", b"published v1")
    big = random_file(tmp_path / "big.bin", 11 * MiB)
    proxy.reset(None, match=is_part_upload, after_bytes=MiB)
    with pytest.raises(StorageAccessError, match=r"S3 upload failed after 3 attempts.*p/clip\.mp4"):
        through.put_file("p/clip.mp4", big)
    assert direct.read_bytes("p/clip.mp4") == b"published v1"
    assert unfinished_uploads(direct) == [], "each failed upload was aborted"


def test_permanent_throttling_is_a_clear_error_after_bounded_attempts(
    stores: tuple[S3Storage, S3Storage], proxy: FaultProxy
) -> None:
    through, direct = stores
    direct.write_bytes("t/x.json", b"{}")
    proxy.slowdown(None)
    with pytest.raises(StorageAccessError) as info:
        through.read_bytes("t/x.json")
    assert info.value.code == "SlowDown"
    assert str(info.value) == (
        "S3 read failed after 3 attempts: Please reduce your request rate. (SlowDown): "
        + through.uri("t/x.json")
    )
    assert len(proxy.actions("slowdown")) == 2 * 3


def test_reachability_check_is_one_short_request(
    s3_server: S3ServerInfo, proxy: FaultProxy
) -> None:
    uri = f"s3://{s3_server.bucket}/probe"
    store = S3Storage(uri, settings=s3_settings(s3_server, proxy.endpoint_url))
    store.check_reachable()  # reachable, bucket exists
    proxy.reset(None)
    before = len(proxy.seen)
    with pytest.raises(StorageAccessError, match="is unreachable") as info:
        store.check_reachable()
    assert len(proxy.seen) == before + 1, "one attempt, no retries"
    assert f"S3 endpoint {proxy.endpoint_url} is unreachable" in str(info.value)
    with pytest.raises(ConfigError) as named:
        check_reachable(store, "--output")
    assert str(named.value).startswith(f"--output {uri}: S3 endpoint {proxy.endpoint_url} ")
    proxy.clear()
    missing = S3Storage("s3://no-such-bucket-x1/p", settings=store.settings)
    with pytest.raises(
        ConfigError, match="LAPS_STORE_URI s3://no-such-bucket-x1/p: S3 bucket does"
    ):
        check_reachable(missing, "LAPS_STORE_URI")
    check_reachable(LocalStorage(Path(".")), "--output")  # local folders pass
