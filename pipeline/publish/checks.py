"""Pure checks of a published partition, for the blocking Dagster asset checks.

Each returns ``CheckResult(passed, description, metadata)`` (a tuple): ``description`` says
what was found in one line, ``metadata`` carries counts and up to ``EXAMPLES`` offenders.
``partition_checks`` reads a partition's outputs and runs them all.
"""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any, NamedTuple

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import StorageKeyError
from pipeline.io import keys as layout
from pipeline.io.storage import Storage
from pipeline.io.tables import read_partition
from pipeline.publish.index import read_shard_index
from pipeline.publish.shards import file_sha256

log = logging.getLogger(__name__)

EXAMPLES = 5
CHECK_NAMES = ("shards_indexed", "sample_count", "unique_ids", "code_range", "step_frames")


class CheckResult(NamedTuple):
    passed: bool
    description: str
    metadata: dict[str, Any]


def check_sample_count(segments: pa.Table, shard_index: pa.Table | None) -> CheckResult:
    """Samples in the shard index == rows of the segments table that have a clip."""
    expected = segments.num_rows - segments.column("clip_key").null_count
    samples = 0 if shard_index is None else sum(shard_index.column("samples").to_pylist())
    ok = samples == expected
    desc = f"{samples} samples in the shards, {expected} segments with a clip"
    return CheckResult(ok, desc, {"samples": samples, "segments_with_clip": expected})


def check_unique_ids(dataset: pa.Table, step_ids: Sequence[str] = ()) -> CheckResult:
    """``segment_id`` unique in the dataset (and the JSONL ``id``s unique, when given)."""
    dup_seg = [k for k, n in Counter(dataset.column("segment_id").to_pylist()).items() if n > 1]
    dup_step = [k for k, n in Counter(step_ids).items() if n > 1]
    ok = not dup_seg and not dup_step
    desc = f"{len(dup_seg)} duplicate segment ids, {len(dup_step)} duplicate step ids"
    meta = {
        "rows": dataset.num_rows,
        "steps": len(step_ids),
        "duplicate_segment_ids": sorted(dup_seg)[:EXAMPLES],
        "duplicate_step_ids": sorted(dup_step)[:EXAMPLES],
    }
    return CheckResult(ok, desc, meta)


def check_code_range(dataset: pa.Table) -> CheckResult:
    """Every code inside ``[0, codebook_size)`` of its row."""
    bad = []
    total = 0
    cols = dataset.select(["segment_id", "codes", "codebook_size"]).to_pylist()
    for row in cols:
        total += len(row["codes"])
        out = [c for c in row["codes"] if not 0 <= c < row["codebook_size"]]
        if out:
            bad.append({"segment_id": row["segment_id"], "codes": out[:EXAMPLES]})
    desc = f"{len(bad)} of {len(cols)} segments have codes outside [0, codebook_size)"
    return CheckResult(not bad, desc, {"codes": total, "bad_segments": bad[:EXAMPLES]})


def _frames_problem(row: dict[str, Any]) -> str | None:
    frames, start, end = row["step_frames"], row["start_frame"], row["end_frame"]
    if len(frames) != len(row["codes"]):
        return f"{len(frames)} step frames for {len(row['codes'])} codes"
    if any(b <= a for a, b in zip(frames, frames[1:], strict=False)):
        return "step frames not strictly increasing"
    if frames and (frames[0] < start or frames[-1] >= end):
        return f"step frames outside [{start}, {end})"
    return None


def check_step_frames(dataset: pa.Table) -> CheckResult:
    """Per segment: step frames strictly increasing, inside the clip, one per code."""
    cols = ["segment_id", "step_frames", "codes", "start_frame", "end_frame"]
    bad = []
    for row in dataset.select(cols).to_pylist():
        problem = _frames_problem(row)
        if problem:
            bad.append({"segment_id": row["segment_id"], "problem": problem})
    desc = f"{len(bad)} of {dataset.num_rows} segments have bad step frames"
    return CheckResult(not bad, desc, {"bad_segments": bad[:EXAMPLES]})


def check_shards_indexed(store: Storage, date: str, station: str) -> CheckResult:
    """Every stored shard of the partition is in its index, and every indexed shard is stored
    with the indexed size and sha256 (reads every shard)."""
    index = read_shard_index(store, date, station)
    indexed = {} if index is None else {r["shard"]: r for r in index.to_pylist()}
    prefix = layout.publish_prefix(layout.SHARDS_DIR, date, station)
    stored = {i.key.rsplit("/", 1)[1]: i for i in store.list(prefix, suffixes=(".tar",))}
    problems = [f"{name}: not in the index" for name in sorted(set(stored) - set(indexed))]
    for name, row in sorted(indexed.items()):
        info = stored.get(name)
        if info is None:
            problems.append(f"{name}: in the index, not stored")
            continue
        with store.local_path(info.key) as path:
            digest = file_sha256(path)
        if info.size != row["bytes"] or digest != row["sha256"]:
            problems.append(f"{name}: stored bytes differ from the index (size or sha256)")
    desc = f"{len(indexed)} shards indexed, {len(stored)} stored, {len(problems)} problems"
    meta = {"indexed": len(indexed), "stored": len(stored), "problems": problems[:EXAMPLES]}
    return CheckResult(not problems, desc, meta)


def read_dataset(store: Storage, date: str, station: str) -> pa.Table | None:
    try:
        data = store.read_bytes(layout.dataset_key(date, station))
    except StorageKeyError:
        return None
    return pq.read_table(io.BytesIO(data))


def _step_ids(store: Storage, date: str, station: str) -> list[str]:
    try:
        data = store.read_bytes(layout.steps_key(date, station))
    except StorageKeyError:
        return []
    return [json.loads(line)["id"] for line in data.splitlines() if line]


def partition_checks(store: Storage, date: str, station: str) -> dict[str, CheckResult]:
    """Every check on one published partition; a missing output fails the checks needing it."""
    segments = read_partition(store, "segments", date, station)
    dataset = read_dataset(store, date, station)
    out = {"shards_indexed": check_shards_indexed(store, date, station)}
    if segments is None or dataset is None:
        missing = CheckResult(False, f"{date}/{station}: no segments table or dataset", {})
        return {name: out.get(name, missing) for name in CHECK_NAMES}
    out["sample_count"] = check_sample_count(segments, read_shard_index(store, date, station))
    out["unique_ids"] = check_unique_ids(dataset, _step_ids(store, date, station))
    out["code_range"] = check_code_range(dataset)
    out["step_frames"] = check_step_frames(dataset)
    return out
