"""Inputs publish refuses or skips, the config and the key templates."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from pipeline.errors import LapsError, PublishError
from pipeline.io import keys as layout
from pipeline.io.tables import partition_key, read_partition
from pipeline.publish import checks
from pipeline.publish.config import PublishConfig
from pipeline.publish.stage import publish_partition


def _rewrite_segments(store, fn, parts) -> list[dict]:
    """Replace the partition's segments table by ``fn(rows)`` (same schema and metadata)."""
    table = read_partition(store, "segments", *parts.a)
    rows = fn(table.to_pylist())
    new = pa.Table.from_pylist(rows, schema=table.schema)
    pq.write_table(new, store.uri(partition_key("segments", *parts.a)), compression="zstd")
    return rows


def test_missing_segments_table_is_refused(fresh_store, parts):
    fresh_store.delete(partition_key("segments", *parts.a))
    with pytest.raises(PublishError, match="no segments table"):
        publish_partition(fresh_store, *parts.a, parts.cfg)
    assert issubclass(PublishError, LapsError)


def test_stale_segments_are_refused(fresh_store, parts):
    def bump(rows):
        rows[0]["codes"] = [(rows[0]["codes"][0] + 1) % 12, *rows[0]["codes"][1:]]
        return rows

    _rewrite_segments(fresh_store, bump, parts)
    with pytest.raises(PublishError, match="stale"):
        publish_partition(fresh_store, *parts.a, parts.cfg)


def test_other_tokenizer_is_refused(fresh_store, parts):
    _rewrite_segments(
        fresh_store, lambda rows: [{**r, "tokenizer_version": "x"} for r in rows], parts
    )
    with pytest.raises(PublishError, match="rerun segments"):
        publish_partition(fresh_store, *parts.a, parts.cfg)


def test_segments_without_clips_are_skipped_with_reasons(fresh_store, parts):
    def drop(rows):
        rows[0]["clip_key"] = None
        return rows

    rows = _rewrite_segments(fresh_store, drop, parts)
    fresh_store.delete(rows[1]["clip_key"])
    summary = publish_partition(fresh_store, *parts.a, parts.cfg)
    reasons = {s["segment_id"]: s["reason"] for s in summary.extra["skipped"]}
    assert reasons == {rows[0]["segment_id"]: "no_clip", rows[1]["segment_id"]: "clip_missing"}
    assert summary.extra["samples"] == summary.rows["dataset"] == len(rows) - 2
    manifest = json.loads(fresh_store.read_bytes(layout.shard_manifest_key(*parts.a)))
    assert {s["segment_id"]: s["reason"] for s in manifest["skipped"]} == reasons
    sidecars = [
        fresh_store.uri(layout.sidecar_key(*parts.a, s["shard"])) for s in summary.extra["shards"]
    ]
    sides = [r for path in sidecars for r in pq.read_table(path).to_pylist()]
    assert {r["key"]: r["status"] for r in sides if r["status"] != "ok"} == {
        k: f"skipped: {v}" for k, v in reasons.items()
    }
    # the lost clip (its row still names one) fails the blocking sample-count check
    result = checks.partition_checks(fresh_store, *parts.a)["sample_count"]
    assert not result.passed and result.metadata["segments_with_clip"] == len(rows) - 1


def test_jsonl_off_removes_an_earlier_one(fresh_store, parts):
    publish_partition(fresh_store, *parts.a, parts.cfg)
    assert fresh_store.exists(layout.steps_key(*parts.a))
    no_jsonl = parts.cfg.model_copy(update={"write_jsonl": False})
    summary = publish_partition(fresh_store, *parts.a, no_jsonl)
    assert not fresh_store.exists(layout.steps_key(*parts.a)) and "steps" not in summary.keys


def test_config_is_validated():
    assert PublishConfig().shard_maxcount == 10_000 and PublishConfig().shard_maxsize == 10**9
    with pytest.raises(ValidationError):
        PublishConfig(shard_maxcount=0)
    with pytest.raises(ValidationError):
        PublishConfig(shards=3)  # extra fields are refused


def test_key_templates():
    d, s = "2026-01-02", "cam-1"
    assert layout.shard_key(d, s, layout.shard_name(7)) == (
        "publish/shards/date=2026-01-02/station=cam-1/clips-000007.tar"
    )
    assert layout.sidecar_key(d, s, "clips-000007.tar").endswith("/clips-000007.parquet")
    assert layout.shard_number("clips-000007.tar") == 7
    part = "date=2026-01-02/station=cam-1"
    assert layout.dataset_key(d, s) == f"publish/dataset/{part}/part-0.parquet"
    assert layout.steps_key(d, s) == f"publish/latent_actions/{part}/steps.jsonl"
    assert layout.partition_of(layout.shard_index_key(d, s)) == (d, s)
    assert layout.relative_to_root(layout.CARD_KEY) == "README.md"
    for bad in (lambda: layout.shard_name(-1), lambda: layout.shard_number("clips-1.tar"),
                lambda: layout.dataset_key("2026-1-2", s)):  # fmt: skip
        with pytest.raises(ValueError):
            bad()


def test_a_partition_that_lost_its_segments_publishes_empty(fresh_store, parts):
    publish_partition(fresh_store, *parts.a, parts.cfg)
    _rewrite_segments(fresh_store, lambda rows: [], parts)
    summary = publish_partition(fresh_store, *parts.a, parts.cfg)
    assert summary.rows == {"dataset": 0, "steps": 0, "shards": 0}
    assert summary.extra["stale_deleted"]  # the earlier shards and sidecars
    prefix = layout.publish_prefix(layout.SHARDS_DIR, *parts.a)
    assert sorted(i.key.rsplit("/", 1)[1] for i in fresh_store.list(prefix)) == [
        "index.json",
        "index.parquet",
    ]
    assert fresh_store.read_bytes(layout.steps_key(*parts.a)) == b""
    assert all(c.passed for c in checks.partition_checks(fresh_store, *parts.a).values())
