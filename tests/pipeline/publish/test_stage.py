"""publish_partition on a real segmented store: what it writes, read back with real libraries."""

from __future__ import annotations

import io
import json
import tarfile

import av
import duckdb
import numpy as np
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
import torch
import webdataset as wds

from pipeline.io import keys as layout
from pipeline.io.tables import read_partition
from pipeline.publish.index import read_shard_index
from pipeline.publish.jsonl import read_steps
from pipeline.publish.stage import load_records, publish_partition
from pipeline.segments.energy import step_timeline
from pipeline.segments.stage import load_signals


def _segments(store, part):
    return read_partition(store, "segments", *part).to_pylist()


def _shard_urls(store, parts, part=None):
    parts = [part] if part else parts.all
    return [
        store.uri(layout.shard_key(*p, name))
        for p in parts
        for name in read_shard_index(store, *p).column("shard").to_pylist()
    ]


def _tar_members(path) -> dict[str, bytes]:
    with tarfile.open(path) as tf:
        return {m.name: tf.extractfile(m).read() for m in tf.getmembers()}


def test_samples_match_the_segments_table(published, parts):
    store = published.store
    assert read_shard_index(store, *parts.a).num_rows >= 2  # maxcount=2: several shards
    for part in parts.all:
        segs = {r["segment_id"]: r for r in _segments(store, part)}
        clusters = {
            r["segment_id"]: r for r in read_partition(store, "segment_clusters", *part).to_pylist()
        }
        assert set(clusters) == set(segs)  # discovery ran and assigned every segment
        index = read_shard_index(store, *part)
        assert index.column("samples").to_pylist() == [2] * (len(segs) // 2) + [1] * (len(segs) % 2)
        keys = []
        for name in index.column("shard").to_pylist():
            members = _tar_members(store.uri(layout.shard_key(*part, name)))
            keys += sorted({m.split(".", 1)[0] for m in members})
            for key in {m.split(".", 1)[0] for m in members}:
                seg = segs[key]
                meta = json.loads(members[f"{key}.json"])
                codes = np.load(io.BytesIO(members[f"{key}.codes.npy"]))
                latent = np.load(io.BytesIO(members[f"{key}.latent.npy"]))
                assert codes.dtype == np.int16 and codes.tolist() == seg["codes"]
                assert latent.dtype == np.float16 and latent.shape == (len(seg["codes"]), 2)
                assert members[f"{key}.mp4"] == store.read_bytes(seg["clip_key"])  # as stored
                assert (meta["date"], meta["station"]) == part
                assert meta["num_steps"] == len(seg["codes"]) == len(meta["step_frames"])
                cl = clusters[key]  # the segment's row of the segment_clusters table
                assert (meta["cluster_id"], meta["cluster_name"], meta["library_version"]) == (
                    cl["cluster_id"],
                    cl["cluster_name"],
                    cl["library_version"],
                )
                assert meta["instruction"] is None  # no VLM endpoint configured
                for k in ("start_frame", "end_frame", "fps", "window_frames", "codebook_size"):
                    assert meta[k] == seg[k]
        assert sorted(keys) == sorted(segs) and len(keys) == len(set(keys))


def test_latent_without_gating_averages_every_window(fresh_store, parts):
    cfg = parts.cfg.model_copy(update={"zero_gated_latents": False})
    records = {r.segment_id: r for r in load_records(fresh_store, *parts.a, cfg)}
    _, signals, _ = load_signals(fresh_store, *parts.a)
    for seg in _segments(fresh_store, parts.a):
        sig = signals[seg["video_id"]]
        tl = step_timeline(sig.z_pre, sig.window_index, stride=sig.stride)
        rec = records[seg["segment_id"]]
        np.testing.assert_array_equal(rec.steps.latent, tl.values[rec.steps.steps].astype("f4"))


def test_progress_is_reported(fresh_store, parts):
    calls = []
    publish_partition(fresh_store, *parts.a, parts.cfg, on_progress=lambda *a: calls.append(a))
    n = len(_segments(fresh_store, parts.a))
    assert calls == [("samples", i, n) for i in range(1, n + 1)]


def test_latent_is_the_zpre_step_average(published, parts):
    """latent.npy = step_timeline of z_pre (gated windows zero), at the segment's steps."""
    store = published.store
    _, signals, _ = load_signals(store, *parts.a)
    rows = _segments(store, parts.a)
    shard_of = {
        r["segment_id"]: r["shard"] for r in pq.read_table(store.uri(layout.dataset_key(*parts.a)))
        .select(["segment_id", "shard"]).to_pylist()
    }  # fmt: skip
    for seg in rows:
        sig = signals[seg["video_id"]]
        tl = step_timeline(sig.z_pre, sig.window_index, stride=sig.stride, gated=sig.gated)
        frames, codes = sig.step_frames(), sig.step_codes()
        sel = (frames >= seg["start_frame"]) & (frames < seg["end_frame"]) & (codes >= 0)
        members = _tar_members(store.uri(layout.shard_key(*parts.a, shard_of[seg["segment_id"]])))
        latent = np.load(io.BytesIO(members[f"{seg['segment_id']}.latent.npy"]))
        np.testing.assert_allclose(latent, tl.values[sel].astype(np.float16), rtol=0, atol=0)
        meta = json.loads(members[f"{seg['segment_id']}.json"])
        assert meta["step_frames"] == frames[sel].tolist()


def test_codes_latent_and_jsonl_line_up(published, parts):
    store = published.store
    for part in parts.all:
        table = pq.read_table(store.uri(layout.dataset_key(*part)))
        steps = read_steps(store.read_bytes(layout.steps_key(*part)))
        by_seg: dict[str, list] = {}
        for s in steps:
            by_seg.setdefault(s.segment_id, []).append(s)
        segs = {r["segment_id"]: r for r in _segments(store, part)}
        for row in table.to_pylist():
            lines = by_seg[row["segment_id"]]
            assert [s.codes[0] for s in lines] == row["codes"] == segs[row["segment_id"]]["codes"]
            assert [s.frame.source for s in lines] == row["step_frames"]
            assert [s.step for s in lines] == list(range(len(lines)))
            assert all(s.shard == row["shard"] and s.clip_key == row["clip_key"] for s in lines)
            assert [s.frame.clip_next for s in lines[:-1]] == [s.frame.clip for s in lines[1:]]
            last = lines[-1].frame
            assert last.clip <= last.clip_next <= row["num_frames"] - 1
        assert len(steps) == sum(len(r["codes"]) for r in table.to_pylist())


def test_dataloader_two_workers_reads_every_sample_once(published, parts):
    store = published.store
    urls = _shard_urls(store, parts)
    dataset = wds.WebDataset(
        urls, shardshuffle=False, nodesplitter=wds.split_by_node,
        workersplitter=wds.split_by_worker,
    ).decode()  # fmt: skip
    loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=2)
    samples = list(loader)
    segs = {r["segment_id"]: r for p in parts.all for r in _segments(store, p)}
    keys = [s["__key__"] for s in samples]
    assert sorted(keys) == sorted(segs) and len(set(keys)) == len(keys)
    for s in samples:
        seg = segs[s["__key__"]]
        assert s["codes.npy"].tolist() == seg["codes"]
        assert s["json"]["segment_id"] == s["__key__"]
        with av.open(io.BytesIO(s["mp4"])) as clip:
            frames = sum(1 for _ in clip.decode(video=0))
        assert frames == seg["end_frame"] - seg["start_frame"]


def test_split_by_node_partitions_the_shards(published, monkeypatch, parts):
    urls = _shard_urls(published.store, parts)
    seen = []
    for rank in (0, 1):
        monkeypatch.setenv("RANK", str(rank))
        monkeypatch.setenv("WORLD_SIZE", "2")
        dataset = wds.WebDataset(urls, shardshuffle=False, nodesplitter=wds.split_by_node)
        seen.append({s["__key__"] for s in dataset})
    assert seen[0] and seen[1] and not seen[0] & seen[1]
    assert len(seen[0] | seen[1]) == sum(len(_segments(published.store, p)) for p in parts.all)


def test_duckdb_and_pyarrow_read_the_dataset(published, parts):
    root = published.store.uri(layout.PUBLISH_ROOT)
    table = ds.dataset(f"{root}/dataset", format="parquet", partitioning="hive").to_table()
    expected = {p: len(_segments(published.store, p)) for p in parts.all}
    assert table.num_rows == sum(expected.values())
    assert table.schema.field("codes").type.value_type == "int16"
    assert table.column("cluster_id").null_count == 0  # every published segment has one
    assert table.column("instruction").null_count == table.num_rows  # no VLM configured
    rows = duckdb.sql(
        f"select station, count(*), count(distinct segment_id), min(codebook_size) "
        f"from read_parquet('{root}/dataset/**/*.parquet', hive_partitioning = true) "
        f"group by station order by station"
    ).fetchall()
    assert rows == [(s, expected[(d, s)], expected[(d, s)], 12) for d, s in parts.all]
    meta = pq.read_schema(published.store.uri(layout.dataset_key(*parts.a))).metadata
    assert meta[b"schema_version"] == b"2"


def _shard_bytes(store, part) -> dict[str, bytes]:
    prefix = layout.publish_prefix(layout.SHARDS_DIR, *part)
    return {i.key: store.read_bytes(i.key) for i in store.list(prefix)}


def _outputs(store, part) -> dict[str, bytes]:
    keys = [layout.dataset_key(*part), layout.steps_key(*part)]
    return {**_shard_bytes(store, part), **{k: store.read_bytes(k) for k in keys}}


def test_rerun_in_place_and_into_a_fresh_store_are_byte_identical(published, fresh_store, parts):
    before = _outputs(published.store, parts.a)
    assert any(k.endswith(".tar") for k in before)
    publish_partition(fresh_store, *parts.a, parts.cfg)
    assert _outputs(fresh_store, parts.a) == before  # a fresh store, same inputs
    publish_partition(fresh_store, *parts.a, parts.cfg)
    assert _outputs(fresh_store, parts.a) == before  # in place


def test_rerun_of_a_partition_leaves_other_partitions_alone(fresh_store, parts):
    for part in parts.all:
        publish_partition(fresh_store, *part, parts.cfg)
    prefix = layout.publish_prefix(layout.SHARDS_DIR, *parts.b)
    stat_b = {i.key: (i.size, i.mtime) for i in fresh_store.list(prefix)}
    bytes_b = _shard_bytes(fresh_store, parts.b)
    publish_partition(fresh_store, *parts.a, parts.cfg)
    assert {i.key: (i.size, i.mtime) for i in fresh_store.list(prefix)} == stat_b
    assert _shard_bytes(fresh_store, parts.b) == bytes_b


def test_stale_shards_of_a_larger_run_are_deleted(fresh_store, parts):
    first = publish_partition(fresh_store, *parts.a, parts.cfg)
    assert len(first.extra["shards"]) >= 2
    again = publish_partition(
        fresh_store, *parts.a, parts.cfg.model_copy(update={"shard_maxcount": 100})
    )
    prefix = layout.publish_prefix(layout.SHARDS_DIR, *parts.a)
    names = sorted(i.key.rsplit("/", 1)[1] for i in fresh_store.list(prefix))
    assert names == ["clips-000000.parquet", "clips-000000.tar", "index.json", "index.parquet"]
    assert len(again.extra["stale_deleted"]) == 2 * (len(first.extra["shards"]) - 1)
    assert again.extra["samples"] == first.extra["samples"]


def test_summary_carries_dagster_metadata(published, parts):
    summary = published.summaries[parts.a]
    n = len(_segments(published.store, parts.a))
    assert summary.rows["dataset"] == summary.extra["samples"] == n
    assert summary.extra["skipped"] == []
    assert summary.extra["clips_per_s"] > 0 and summary.extra["mb_per_s"] > 0
    assert set(summary.keys) >= {"dataset", "steps", "shard_index", "shard_manifest", "card"}
    assert summary.extra["card"]["segments"] >= n  # the card covers every partition so far


def _sample_sizes(store, part, shard) -> list[int]:
    """Tar bytes of each sample of a shard (headers + padded members), from its sidecar."""
    side = pq.read_table(store.uri(layout.sidecar_key(*part, shard))).to_pylist()
    cols = ("mp4_bytes", "json_bytes", "codes_npy_bytes", "latent_npy_bytes")
    return [sum(512 + -(-r[c] // 512) * 512 for c in cols) for r in side if r["status"] == "ok"]


@pytest.mark.parametrize("cap_in_samples", [0, 2.5])
def test_rotation_by_size(fresh_store, cap_in_samples, parts):
    """Greedy: a shard's samples fit the cap, and the next shard's first sample would not."""
    clips = [fresh_store.read_bytes(r["clip_key"]) for r in _segments(fresh_store, parts.a)]
    cap = max(1, int(cap_in_samples * np.median([len(c) for c in clips])))
    cfg = parts.cfg.model_copy(update={"shard_maxcount": 1000, "shard_maxsize": cap})
    shards = publish_partition(fresh_store, *parts.a, cfg).extra["shards"]
    sizes = [_sample_sizes(fresh_store, parts.a, s["shard"]) for s in shards]
    assert sum(len(x) for x in sizes) == len(clips)
    if cap == 1:
        assert [len(x) for x in sizes] == [1] * len(clips)  # oversized: a shard each
        return
    assert 1 < len(shards) < len(clips)
    for cur, nxt in zip(sizes, sizes[1:], strict=False):
        assert sum(cur) <= cap or len(cur) == 1
        assert sum(cur) + nxt[0] > cap
