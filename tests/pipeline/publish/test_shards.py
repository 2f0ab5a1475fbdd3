"""write_shards on synthetic samples: deterministic tars, rotation, skipped rows, no partial
uploads."""

from __future__ import annotations

import hashlib
import io
import tarfile

import numpy as np
import pyarrow.parquet as pq
import pytest
import webdataset as wds

from pipeline.io import keys as layout
from pipeline.io.storage import LocalStorage
from pipeline.publish.shards import (
    OK,
    Sample,
    json_bytes,
    npy_bytes,
    tar_size,
    write_shards,
)

D, S = "2026-03-01", "st1"


def _sample(i: int, *, clip_size: int = 3000) -> Sample:
    rng = np.random.default_rng(i)
    members = {
        "mp4": rng.integers(0, 255, clip_size, dtype=np.uint8).tobytes(),
        "json": json_bytes({"segment_id": f"{i:032x}", "b": [1, 2], "a": None}),
        "codes.npy": npy_bytes(np.arange(i + 1, dtype="<i2")),
        "latent.npy": npy_bytes(rng.normal(size=(i + 1, 2)).astype("<f2")),
    }
    return Sample(f"{i:032x}", "v" * 64, 10 * i, 10 * i + 9, members)


def _skip(i: int) -> Sample:
    return Sample(f"{i:032x}", "v" * 64, 10 * i, 10 * i + 9, None, "skipped: no_clip")


def _tars(store: LocalStorage) -> dict[str, bytes]:
    prefix = layout.publish_prefix(layout.SHARDS_DIR, D, S)
    return {i.key: store.read_bytes(i.key) for i in store.list(prefix, suffixes=(".tar",))}


def test_same_samples_give_byte_identical_tars(tmp_path):
    samples = [_sample(i) for i in range(5)]
    stores = [LocalStorage(tmp_path / n) for n in ("a", "b")]
    for store in stores:
        write_shards(store, D, S, samples, maxcount=2, maxsize=10**9)
    a, b = (_tars(s) for s in stores)
    assert len(a) == 3 and a == b


def test_tar_headers_are_fixed_and_members_ordered(tmp_path):
    store = LocalStorage(tmp_path)
    res = write_shards(store, D, S, [_sample(0), _sample(1)], maxcount=10, maxsize=10**9)
    data = store.read_bytes(res.shards[0].key)
    assert hashlib.sha256(data).hexdigest() == res.shards[0].sha256
    assert len(data) == res.shards[0].bytes
    with tarfile.open(fileobj=io.BytesIO(data)) as tf:
        members = tf.getmembers()
    assert [m.name.split(".", 1)[1] for m in members] == [
        "codes.npy",
        "json",
        "latent.npy",
        "mp4",
    ] * 2
    assert {(m.mtime, m.uid, m.gid, m.uname, m.gname, m.mode) for m in members} == {
        (0, 0, 0, "", "", 0o444)
    }


def test_webdataset_reads_what_was_written(tmp_path):
    store = LocalStorage(tmp_path)
    samples = [_sample(i) for i in range(3)]
    res = write_shards(store, D, S, samples, maxcount=2, maxsize=10**9)
    urls = [store.uri(s.key) for s in res.shards]
    got = list(wds.WebDataset(urls, shardshuffle=False).decode())
    assert [g["__key__"] for g in got] == [s.key for s in samples]
    for g, s in zip(got, samples, strict=True):
        assert g["mp4"] == s.members["mp4"]
        assert g["codes.npy"].tolist() == list(range(int(s.key, 16) + 1))
        assert g["json"]["b"] == [1, 2]


def test_rotation_by_count_and_size(tmp_path):
    samples = [_sample(i) for i in range(6)]
    one = tar_size(samples[0].members)
    res = write_shards(LocalStorage(tmp_path / "n"), D, S, samples, maxcount=4, maxsize=10**9)
    assert [s.samples for s in res.shards] == [4, 2]
    res = write_shards(
        LocalStorage(tmp_path / "s"), D, S, samples, maxcount=100, maxsize=3 * one + 100
    )
    assert [s.samples for s in res.shards] == [3, 3]
    assert [s.name for s in res.shards] == ["clips-000000.tar", "clips-000001.tar"]
    assert res.shard_of == {s.key: f"clips-00000{i // 3}.tar" for i, s in enumerate(samples)}


def test_skipped_samples_are_recorded_in_the_sidecars(tmp_path):
    store = LocalStorage(tmp_path)
    items = [_skip(0), _sample(1), _sample(2), _skip(3), _sample(4)]
    res = write_shards(store, D, S, items, maxcount=2, maxsize=10**9)
    assert [s.key for s in res.skipped] == [items[0].key, items[3].key]
    sides = [pq.read_table(store.uri(k)).to_pylist() for k in res.sidecar_keys]
    # a skip goes to the shard open when it comes (shard 0 rotates only at sample 4)
    assert [[r["status"] for r in side] for side in sides] == [
        ["skipped: no_clip", OK, OK, "skipped: no_clip"],
        [OK],
    ]
    assert sides[0][0]["mp4_bytes"] is None and sides[0][1]["mp4_bytes"] == 3000
    assert sum(s.samples for s in res.shards) == 3


def test_only_skipped_samples_write_no_shard(tmp_path):
    res = write_shards(LocalStorage(tmp_path), D, S, [_skip(0)], maxcount=2, maxsize=10)
    assert res.shards == [] and len(res.skipped) == 1


def test_a_failing_sample_uploads_no_partial_shard(tmp_path):
    store = LocalStorage(tmp_path)

    def items():
        yield from (_sample(i) for i in range(3))
        raise RuntimeError("clip read failed")

    with pytest.raises(RuntimeError, match="clip read failed"):
        write_shards(store, D, S, items(), maxcount=2, maxsize=10**9)
    assert list(_tars(store)) == [layout.shard_key(D, S, "clips-000000.tar")]  # closed ones only
