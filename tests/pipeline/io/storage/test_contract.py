"""One behaviour suite run against LocalStorage and S3Storage (a real weed S3 server)."""

from __future__ import annotations

import uuid
from datetime import UTC
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig

from pipeline.errors import StorageKeyError
from pipeline.io.storage import LocalStorage, S3Storage, Storage, join_key


def plant_raw(store: Storage, key: str, data: bytes) -> None:
    """Put an object bypassing the API's key checks (e.g. a crashed writer's temp file)."""
    if isinstance(store, LocalStorage):
        path = Path(store.root, *key.split("/"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    else:
        assert isinstance(store, S3Storage)
        store.client.put_object(Bucket=store.bucket, Key=f"{store.prefix}/{key}", Body=data)


def test_write_read_round_trip_and_overwrite(store: Storage) -> None:
    key = "a/b/data.bin"
    assert not store.exists(key)
    store.write_bytes(key, b"first")
    assert store.exists(key)
    assert store.read_bytes(key) == b"first"
    store.write_bytes(key, b"second, longer")
    assert store.read_bytes(key) == b"second, longer"
    assert [i.key for i in store.list()] == [key]


def test_missing_key_errors_name_the_location(store: Storage) -> None:
    key = "nope/missing.txt"
    with pytest.raises(StorageKeyError) as info:
        store.read_bytes(key)
    assert info.value.uri == store.uri(key)
    assert store.uri(key) in str(info.value)
    with pytest.raises(StorageKeyError), store.local_path(key):
        pass
    with pytest.raises(StorageKeyError):
        store.delete(key)
    store.delete(key, missing_ok=True)


def test_uri_is_under_root(store: Storage) -> None:
    assert store.uri("x/y.json") == store.root + "/x/y.json"


@pytest.mark.parametrize("bad", ["", "/abs", "a//b", "../up", "a/./b", "dir/", ".tmp-1-x"])
def test_bad_keys_raise_value_error(store: Storage, bad: str) -> None:
    with pytest.raises(ValueError, match="key"):
        store.write_bytes(bad, b"x")


def test_list_is_sorted_recursive_filtered(store: Storage) -> None:
    for key in ["b/2.parquet", "a/x/1.parquet", "a/0.json", "ab.parquet", "a/x/y/3.parquet"]:
        store.write_bytes(key, key.encode())
    plant_raw(store, "a/x/.tmp-deadbeef-4.parquet", b"in flight")
    every = store.list()
    assert [i.key for i in every] == sorted(i.key for i in every)
    assert len(every) == 5
    assert all(i.size == len(i.key.encode()) for i in every)
    assert all(
        i.mtime.tzinfo is not None and i.mtime.utcoffset() == UTC.utcoffset(None) for i in every
    )
    assert [i.key for i in store.list("a/")] == ["a/0.json", "a/x/1.parquet", "a/x/y/3.parquet"]
    assert [i.key for i in store.list("a")] == [
        "a/0.json", "a/x/1.parquet", "a/x/y/3.parquet", "ab.parquet",
    ]  # fmt: skip
    parquet = [i.key for i in store.list("", suffixes=(".parquet",))]
    assert parquet == ["a/x/1.parquet", "a/x/y/3.parquet", "ab.parquet", "b/2.parquet"]
    assert store.list("zzz/") == []


def test_put_file_round_trip(store: Storage, tmp_path: Path) -> None:
    src = tmp_path / "clip.mp4"
    src.write_bytes(bytes(range(256)) * 100)
    store.put_file("clips/c1.mp4", src)
    assert store.read_bytes("clips/c1.mp4") == src.read_bytes()
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        store.put_file("clips/c2.mp4", tmp_path / "missing.mp4")
    assert not store.exists("clips/c2.mp4")


def test_local_path_gives_a_readable_file(store: Storage) -> None:
    store.write_bytes("videos/v.mp4", b"not really a video")
    with store.local_path("videos/v.mp4") as path:
        assert path.suffix == ".mp4"
        assert path.read_bytes() == b"not really a video"
    if isinstance(store, S3Storage):
        assert not path.exists(), "the S3 download must be deleted after use"
    else:
        assert path == Path(store.uri("videos/v.mp4"))


def test_writer_path_publishes_on_success(store: Storage) -> None:
    with store.writer_path("out/shard.tar", suffix=".tmp.tar") as tmp:
        assert tmp.name.endswith("shard.tar.tmp.tar")
        tmp.write_bytes(b"payload")
        assert store.list() == [], "an in-flight write must not be listed"
        assert not store.exists("out/shard.tar")
    assert store.read_bytes("out/shard.tar") == b"payload"
    assert not tmp.exists()
    assert [i.key for i in store.list()] == ["out/shard.tar"]


def test_writer_path_failure_leaves_nothing(store: Storage) -> None:
    store.write_bytes("out/old.bin", b"old")
    with pytest.raises(RuntimeError, match="boom"), store.writer_path("out/old.bin") as tmp:
        tmp.write_bytes(b"half written")
        raise RuntimeError("boom")
    assert not tmp.exists()
    assert store.read_bytes("out/old.bin") == b"old"
    with pytest.raises(RuntimeError, match="boom"), store.writer_path("out/new.bin") as tmp2:
        tmp2.write_bytes(b"half written")
        raise RuntimeError("boom")
    assert not store.exists("out/new.bin")
    assert [i.key for i in store.list()] == ["out/old.bin"]
    if isinstance(store, LocalStorage):
        assert sorted(p.name for p in Path(store.root, "out").iterdir()) == ["old.bin"]


def test_writer_path_without_file_raises(store: Storage) -> None:
    with pytest.raises(FileNotFoundError, match="did not create"), store.writer_path("x/y.bin"):
        pass
    assert not store.exists("x/y.bin")


def test_delete_and_delete_prefix(store: Storage) -> None:
    keys = ["run/a/1.bin", "run/a/2.bin", "run/b/3.bin", "keep/4.bin"]
    for key in keys:
        store.write_bytes(key, b"x")
    store.delete("run/b/3.bin")
    assert not store.exists("run/b/3.bin")
    assert store.delete_prefix("run/") == 2
    assert [i.key for i in store.list()] == ["keep/4.bin"]
    assert store.delete_prefix("run/") == 0
    if isinstance(store, LocalStorage):
        assert not Path(store.root, "run").exists(), "empty folders are pruned"


@pytest.mark.s3
@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_s3_multipart_upload_appears_whole(
    store: Storage, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert isinstance(store, S3Storage)
    small_parts = TransferConfig(multipart_threshold=5 * 2**20, multipart_chunksize=5 * 2**20)
    monkeypatch.setattr("pipeline.io.storage.s3._TRANSFER", small_parts)
    src = tmp_path / "big.bin"
    src.write_bytes(uuid.uuid4().bytes * (11 * 2**20 // 16))
    store.put_file(join_key("big", "big.bin"), src)
    head = store.client.head_object(Bucket=store.bucket, Key=f"{store.prefix}/big/big.bin")
    assert head["ETag"].strip('"').endswith("-3"), "expected a 3-part multipart upload"
    assert store.read_bytes("big/big.bin") == src.read_bytes()
