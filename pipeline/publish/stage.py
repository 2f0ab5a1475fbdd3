"""The publish stage of one (date, station) partition: ``publish_partition``.

Reads the partition's ``segments``, ``videos``, ``windows`` and ``codes`` tables and the clips,
and writes, in this order (``pipeline.io.keys`` has every key):

1. the WebDataset shards with their Parquet sidecars (``shards``), one sample per segment with
   a clip, the clip bytes copied as stored (never re-encoded);
2. the partition's shard index (``index``), then deletes shard files of earlier runs that this
   run did not write (a partition that shrank);
3. the Parquet dataset partition (``dataset``);
4. the latent-action JSONL (``jsonl``), unless ``write_jsonl`` is off (then an earlier one is
   deleted);
5. the store's dataset card over every published partition (``card``), unless ``write_card``
   is off.

A rerun with the same inputs rewrites the same files byte for byte; it only ever writes or
deletes under this partition's ``date=D/station=S/`` folders (and the card). Every file is
replaced atomically, but not the set: while a rerun that changes a partition is uploading its
shards, the previous index may not match them (``checks.check_shards_indexed`` says so); run
one publish per partition at a time (Dagster does). Unusable inputs
raise ``PublishError``; a segment that cannot be a sample (no clip, clip missing from the
store, not an mp4) is skipped with its reason in the sidecar, ``index.json`` and the summary.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from pipeline.context import Progress, StageSummary, no_progress
from pipeline.errors import PublishError, SegmentationError, StorageKeyError
from pipeline.io import keys as layout
from pipeline.io import schemas
from pipeline.io.storage import Storage
from pipeline.io.tables import read_partition, schema_version_of
from pipeline.publish.card import write_card
from pipeline.publish.config import PublishConfig
from pipeline.publish.dataset import dataset_rows, write_dataset
from pipeline.publish.index import prune_shards, skipped_rows, write_shard_index
from pipeline.publish.jsonl import write_steps
from pipeline.publish.records import SegmentRecord, build_records
from pipeline.publish.shards import Sample, ShardsResult, json_bytes, npy_bytes, write_shards
from pipeline.segments.clips import publish_refusal
from pipeline.segments.stage import load_signals

log = logging.getLogger(__name__)


def load_records(
    store: Storage, date: str, station: str, cfg: PublishConfig
) -> list[SegmentRecord]:
    """The partition's segments as publish records (sorted); ``PublishError`` if unusable."""
    segments = read_partition(store, "segments", date, station)
    if segments is None:
        raise PublishError(f"{date}/{station}: no segments table; run segments first")
    version = schema_version_of(segments)
    if version != schemas.SEGMENTS_VERSION:
        raise PublishError(
            f"{date}/{station}: segments schema_version {version}, "
            f"publish reads {schemas.SEGMENTS_VERSION}"
        )
    calibrated = (segments.schema.metadata or {}).get(b"calibrated", b"true")
    if calibrated == b"false":
        raise PublishError(
            f"{date}/{station}: the station's thresholds could not be calibrated, so its "
            "segments have no idle/active labels; nothing is published (see the segments "
            "asset's thresholds_calibrated check)"
        )
    refusal = publish_refusal(segments.schema.metadata, segments.column("fps").to_pylist())
    if refusal:
        raise PublishError(f"{date}/{station}: {refusal}")
    if segments.num_rows == 0:
        return []
    try:
        videos, signals, tok = load_signals(store, date, station)
    except SegmentationError as exc:
        raise PublishError(f"{date}/{station}: {exc}") from exc
    return build_records(
        segments.to_pylist(),
        videos,
        signals,
        date=date,
        station=station,
        tokenizer_version=tok["tokenizer_version"],
        zero_gated=cfg.zero_gated_latents,
        annotations=load_annotations(store, date, station),
    )


def load_annotations(store: Storage, date: str, station: str) -> dict[str, dict[str, Any]]:
    """segment_id -> its cluster (``segment_clusters``) and instruction (``segment_labels``,
    status ok or cached) in this partition; a segment with neither is absent."""
    out: dict[str, dict[str, Any]] = {}
    clusters = read_partition(store, "segment_clusters", date, station)
    if clusters is not None:
        for r in clusters.select(["segment_id", "cluster_id", "cluster_name",
                                  "library_version"]).to_pylist():  # fmt: skip
            out.setdefault(r.pop("segment_id"), {}).update(r)
    labels = read_partition(store, "segment_labels", date, station)
    if labels is not None:
        for r in labels.select(["segment_id", "status", "instruction"]).to_pylist():
            if r["status"] in ("ok", "cached") and r["instruction"]:
                out.setdefault(r["segment_id"], {})["instruction"] = r["instruction"]
    return out


def _sample(rec: SegmentRecord, clip: Future[bytes] | None) -> Sample:
    base = {
        "key": rec.segment_id,
        "video_id": rec.meta["video_id"],
        "start_frame": int(rec.meta["start_frame"]),
        "end_frame": int(rec.meta["end_frame"]),
    }
    if clip is None:
        return Sample(**base, members=None, status="skipped: no_clip")
    try:
        data = clip.result()
    except StorageKeyError:
        log.warning("segment %s: clip %s missing from the store", rec.segment_id, rec.clip_key)
        return Sample(**base, members=None, status="skipped: clip_missing")
    if data[4:8] != b"ftyp":
        log.warning("segment %s: %s is not an mp4 file", rec.segment_id, rec.clip_key)
        return Sample(**base, members=None, status="skipped: clip_not_mp4")
    members = {
        "mp4": data,
        "json": json_bytes(rec.meta),
        "codes.npy": npy_bytes(rec.steps.codes.astype("<i2")),
        "latent.npy": npy_bytes(rec.steps.latent.astype("<f2")),
    }
    return Sample(**base, members=members)


def iter_samples(
    store: Storage, records: Sequence[SegmentRecord], *, workers: int, progress: Progress
) -> Iterator[Sample]:
    """Samples in record order; clips are read ``workers`` at a time, at most ``2 * workers``
    ahead of the writer (bounded memory)."""
    pending: deque[tuple[SegmentRecord, Future[bytes] | None]] = deque()
    done = 0
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="publish-read") as pool:
        for rec in records:
            fut = pool.submit(store.read_bytes, rec.clip_key) if rec.clip_key else None
            pending.append((rec, fut))
            if len(pending) >= 2 * workers:
                done += 1
                yield _sample(*pending.popleft())
                progress("samples", done, len(records))
        while pending:
            done += 1
            yield _sample(*pending.popleft())
            progress("samples", done, len(records))


def _write_steps(
    store: Storage,
    date: str,
    station: str,
    records: Sequence[SegmentRecord],
    result: ShardsResult,
    cfg: PublishConfig,
) -> tuple[str | None, int]:
    if cfg.write_jsonl:
        return write_steps(store, date, station, records, result.shard_of)
    store.delete(layout.steps_key(date, station), missing_ok=True)  # not stale output
    return None, 0


def publish_partition(
    store: Storage,
    date: str,
    station: str,
    cfg: PublishConfig,
    *,
    on_progress: Progress | None = None,
) -> StageSummary:
    """Publish one partition (module doc); returns rows, keys and metadata for Dagster."""
    progress = on_progress or no_progress
    t0 = time.perf_counter()
    records = load_records(store, date, station, cfg)
    samples = iter_samples(store, records, workers=cfg.read_workers, progress=progress)
    t_shards = time.perf_counter()
    result = write_shards(
        store, date, station, samples, maxcount=cfg.shard_maxcount, maxsize=cfg.shard_maxsize
    )
    shard_seconds = time.perf_counter() - t_shards
    keys = write_shard_index(store, date, station, result, cfg.model_dump(mode="json"))
    keep = {s.key for s in result.shards} | set(result.sidecar_keys) | set(keys.values())
    stale = prune_shards(store, date, station, keep)
    rows = dataset_rows(records, result.shard_of)
    meta = {"publish_config": cfg.model_dump_json(), "date": date, "station": station}
    keys["dataset"] = write_dataset(store, date, station, rows, metadata=meta)
    steps_key, n_steps = _write_steps(store, date, station, records, result, cfg)
    if steps_key:
        keys["steps"] = steps_key
    card: dict[str, Any] = {}
    if cfg.write_card:
        card = write_card(store)
        keys["card"] = layout.CARD_KEY
    extra = _extra(result, records, stale, shard_seconds, card)
    extra["seconds"] = round(time.perf_counter() - t0, 3)
    return StageSummary(
        rows={"dataset": len(rows), "steps": n_steps, "shards": len(result.shards)},
        keys=keys,
        extra=extra,
    )


def _extra(
    result: ShardsResult,
    records: Sequence[SegmentRecord],
    stale: list[str],
    shard_seconds: float,
    card: dict[str, Any],
) -> dict[str, Any]:
    """Dagster metadata; throughput is of the shard phase (clip reads, tar writes, uploads)."""
    per_s = max(shard_seconds, 1e-9)
    return {
        "segments": len(records),
        "samples": result.samples,
        "bytes": result.bytes,
        "shards": [
            {"shard": s.name, "samples": s.samples, "bytes": s.bytes, "sha256": s.sha256}
            for s in result.shards
        ],
        "skipped": skipped_rows(result),
        "stale_deleted": stale,
        "shard_seconds": round(shard_seconds, 3),
        "clips_per_s": round(result.samples / per_s, 2),
        "mb_per_s": round(result.bytes / 1e6 / per_s, 2),
        "card": card,
    }
