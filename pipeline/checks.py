"""Checks of a partition's written tables and clips, for the Dagster asset checks.

Every check reads back what a stage wrote (never the stage's own in-memory rows) and returns
``Check(passed, description, metadata)``: ``description`` says what was found in one line,
``metadata`` carries counts and up to ``EXAMPLES`` offenders. ``<stage>_checks(store, date,
station)`` runs every check of one stage's output; a table that is missing fails them all. The
structural ones (schema version, unique ids, nulls, contiguous and monotonic rows, code range,
row counts against the previous stage, clips that decode) mean the data is wrong: the assets
declare them as blocking ERROR checks. The rules of ``pipeline.publish.checks`` cover the
published partition.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import av
import pyarrow as pa

from pipeline.io import schemas
from pipeline.io.keys import clip_key
from pipeline.io.storage import Storage
from pipeline.io.tables import failed_videos, read_partition, schema_version_of
from pipeline.quality import chunk_problems, segment_problems, window_problems

EXAMPLES = 5
CLIP_SAMPLE = 5  # clips decoded per partition by ``clips_decode``


class Check(NamedTuple):
    passed: bool
    description: str
    metadata: dict[str, Any]


def _verdict(bad: Sequence[Any], total: int, what: str, **meta: Any) -> Check:
    """A check failing when ``bad`` is not empty: '<n> of <total> <what>'."""
    return Check(
        not bad,
        f"{len(bad)} of {total} {what}",
        {"bad": len(bad), "examples": list(bad)[:EXAMPLES], **meta},
    )


def schema_version(table: pa.Table, expected: int) -> Check:
    """The file's stored ``schema_version`` is the one this code writes and reads."""
    found = schema_version_of(table)
    desc = f"schema_version {found} in the file, expected {expected}"
    return Check(found == expected, desc, {"schema_version": found, "expected": expected})


def unique(table: pa.Table, columns: Sequence[str]) -> Check:
    """No two rows share the values of ``columns`` (an id)."""
    keys = list(zip(*(table.column(c).to_pylist() for c in columns), strict=True))
    dup = sorted("|".join(map(str, k)) for k, n in Counter(keys).items() if n > 1)
    return _verdict(dup, table.num_rows, f"rows share a {'+'.join(columns)} with another row")


def no_nulls(table: pa.Table, schema: pa.Schema) -> Check:
    """No null in a column ``schema`` declares non-nullable (and no such column missing)."""
    bad = []
    for f in schema:
        if f.nullable:
            continue
        if f.name not in table.column_names:
            bad.append(f"{f.name}: missing")
        elif (n := table.column(f.name).null_count) > 0:
            bad.append(f"{f.name}: {n} nulls")
    required = sum(1 for f in schema if not f.nullable)
    return _verdict(bad, required, "non-nullable columns have nulls or are missing")


def chunks_contiguous(rows: list[dict]) -> Check:
    gaps, _ = chunk_problems(rows)
    return _verdict(gaps, len({r["video_id"] for r in rows}), "videos have chunks whose windows "
                    "are not 0..W-1 exactly once")  # fmt: skip


def chunks_monotonic(rows: list[dict]) -> Check:
    _, backwards = chunk_problems(rows)
    return _verdict(backwards, len({r["video_id"] for r in rows}), "videos have chunks whose "
                    "frames or seconds do not increase")  # fmt: skip


def chunks_cover_videos(videos: list[dict], chunks: list[dict]) -> Check:
    """Every video has the ``num_chunks`` chunks the videos table promises, owning its
    ``num_windows`` windows."""
    per = Counter(r["video_id"] for r in chunks)
    wins = Counter()
    for r in chunks:
        wins[r["video_id"]] += r["num_windows"]
    bad = [
        f"{v['video_id'][:16]}: {per[v['video_id']]} chunks / {wins[v['video_id']]} windows, "
        f"expected {v['num_chunks']} / {v['num_windows']}"
        for v in videos
        if per[v["video_id"]] != v["num_chunks"] or wins[v["video_id"]] != v["num_windows"]
    ]
    extra = sorted(set(per) - {v["video_id"] for v in videos})
    bad += [f"{vid[:16]}: chunks of a video not in the videos table" for vid in extra]
    return _verdict(bad, len(videos), "videos do not have the chunks the videos table promises")


def windows_contiguous(rows: list[dict]) -> Check:
    gaps, _ = window_problems(rows)
    return _verdict(gaps, len({r["video_id"] for r in rows}), "videos have windows not "
                    "numbered 0..W-1")  # fmt: skip


def windows_monotonic(rows: list[dict]) -> Check:
    _, backwards = window_problems(rows)
    return _verdict(backwards, len({r["video_id"] for r in rows}), "videos have window "
                    "times that do not increase")  # fmt: skip


def windows_cover_chunks(chunks: list[dict], windows: list[dict], failed: set[str]) -> Check:
    """Every chunk of a video that did not fail tracking has its ``num_windows`` windows (a
    decode that ends early would otherwise drop the tail silently)."""
    have = Counter((w["video_id"], w["chunk_index"]) for w in windows)
    bad = [
        f"{c['video_id'][:16]}/c{c['chunk_index']}: {have[c['video_id'], c['chunk_index']]} "
        f"windows, expected {c['num_windows']}"
        for c in chunks
        if c["video_id"] not in failed and have[c["video_id"], c["chunk_index"]] != c["num_windows"]
    ]
    known = {(c["video_id"], c["chunk_index"]) for c in chunks}
    bad += [f"{v[:16]}/c{i}: windows of a chunk not in the chunks table"
            for v, i in sorted(set(have) - known)]  # fmt: skip
    checked = sum(1 for c in chunks if c["video_id"] not in failed)
    return _verdict(bad, checked, "chunks do not have the windows the chunks table plans",
                    failed_videos=len(failed))  # fmt: skip


def code_range(codes: list[dict]) -> Check:
    """Every code inside ``[0, codebook_size)`` of its row."""
    bad = []
    for r in codes:
        out = [c for c in r["codes"] if not 0 <= c < r["codebook_size"]]
        if out:
            bad.append(f"{r['video_id'][:16]}/w{r['window_index']}: {out[:EXAMPLES]}")
    return _verdict(bad, len(codes), "windows have codes outside [0, codebook_size)")


def codes_cover_windows(windows: list[dict], codes: list[dict]) -> Check:
    """Every non-gated window has a codes row, and every codes row is a stored window."""
    have = {(r["video_id"], r["window_index"]) for r in codes}
    stored = {(w["video_id"], w["window_index"]) for w in windows}
    missing = sorted((w["video_id"], w["window_index"]) for w in windows if not w["gated"]
                     and (w["video_id"], w["window_index"]) not in have)  # fmt: skip
    orphan = sorted(have - stored)
    bad = [f"{v[:16]}/w{i}: no codes" for v, i in missing]
    bad += [f"{v[:16]}/w{i}: codes of a window not in the windows table" for v, i in orphan]
    active = sum(1 for w in windows if not w["gated"])
    return _verdict(bad, active, "non-gated windows lack codes (or codes lack a window)")


def segments_ordered(rows: list[dict]) -> Check:
    bad = segment_problems(rows)
    return _verdict(bad, len({r["video_id"] for r in rows}), "videos have segments out of "
                    "order, empty or overlapping")  # fmt: skip


def segments_have_clips(
    segments: list[dict], failures: list[dict], date: str, station: str
) -> Check:
    """Every segment has a stored ``clip_key`` at its documented key, or a ``failures`` row
    (stage ``clips``) for that key saying why not."""
    failed = {r["item"] for r in failures if r["stage"] == "clips"}
    bad = []
    for r in segments:
        key = clip_key(date, station, r["video_id"], r["segment_id"])
        if r["clip_key"] is None and key not in failed:
            bad.append(f"{r['segment_id']}: no clip and no failures row")
        elif r["clip_key"] is not None and r["clip_key"] != key:
            bad.append(f"{r['segment_id']}: clip_key {r['clip_key']} is not {key}")
    n_failed = sum(1 for r in segments if r["clip_key"] is None)
    return _verdict(bad, len(segments), "segments have neither a clip nor a failure reason",
                    clip_failures=n_failed)  # fmt: skip


def decoded_frames(path: str) -> int:
    """Frames PyAV decodes from the file's first video stream."""
    with av.open(path) as container:
        return sum(1 for _ in container.decode(video=0))


def clips_decode(
    store: Storage, segments: list[dict], *, sample: int = CLIP_SAMPLE, seed: str = ""
) -> Check:
    """A seeded sample of up to ``sample`` clips exists and decodes to exactly
    ``end_frame - start_frame`` frames (the clip is the source's frames at the source rate)."""
    with_clip = sorted(
        (r for r in segments if r["clip_key"] is not None), key=lambda r: r["segment_id"]
    )
    picked = random.Random(seed).sample(with_clip, min(sample, len(with_clip)))
    bad = []
    for r in picked:
        expected = r["end_frame"] - r["start_frame"]
        if not store.exists(r["clip_key"]):
            bad.append(f"{r['segment_id']}: clip not stored")
            continue
        try:
            with store.local_path(r["clip_key"]) as path:
                n = decoded_frames(str(path))
        except av.FFmpegError as err:
            bad.append(f"{r['segment_id']}: does not decode ({type(err).__name__}: {err})")
            continue
        if n != expected:
            bad.append(f"{r['segment_id']}: {n} frames decoded, expected {expected}")
    return _verdict(bad, len(picked), f"sampled clips (of {len(with_clip)}) are missing, do "
                    "not decode or have the wrong frame count", sampled=len(picked),
                    segments=[r["segment_id"] for r in picked])  # fmt: skip


def _partition_checks(
    store: Storage, date: str, station: str, table: str, names: Sequence[str],
    build: Callable[[pa.Table], dict[str, Check]],
) -> dict[str, Check]:  # fmt: skip
    t = read_partition(store, table, date, station)
    if t is None:
        missing = Check(False, f"{date}/{station}: no {table} table written", {})
        return dict.fromkeys(names, missing)
    return build(t)


def _rows(store: Storage, table: str, date: str, station: str) -> list[dict]:
    t = read_partition(store, table, date, station)
    return [] if t is None else t.to_pylist()


VIDEO_CHECKS = ("schema_version", "unique_video_ids", "no_nulls")


def videos_checks(store: Storage, date: str, station: str) -> dict[str, Check]:
    return _partition_checks(store, date, station, "videos", VIDEO_CHECKS, lambda t: {
        "schema_version": schema_version(t, schemas.VIDEOS_VERSION),
        "unique_video_ids": unique(t, ["video_id"]),
        "no_nulls": no_nulls(t, schemas.VIDEOS),
    })  # fmt: skip


CHUNK_CHECKS = ("schema_version", "unique_chunk_ids", "no_nulls", "windows_contiguous",
                "monotonic_times", "chunks_cover_videos")  # fmt: skip


def chunks_checks(store: Storage, date: str, station: str) -> dict[str, Check]:
    def build(t: pa.Table) -> dict[str, Check]:
        rows = t.to_pylist()
        return {
            "schema_version": schema_version(t, schemas.CHUNKS_VERSION),
            "unique_chunk_ids": unique(t, ["chunk_id"]),
            "no_nulls": no_nulls(t, schemas.CHUNKS),
            "windows_contiguous": chunks_contiguous(rows),
            "monotonic_times": chunks_monotonic(rows),
            "chunks_cover_videos": chunks_cover_videos(_rows(store, "videos", date, station), rows),
        }

    return _partition_checks(store, date, station, "chunks", CHUNK_CHECKS, build)


TRACK_CHECKS = ("schema_version", "unique_windows", "no_nulls", "window_index_contiguous",
                "monotonic_times", "every_chunk_tracked")  # fmt: skip


def tracks_checks(store: Storage, date: str, station: str) -> dict[str, Check]:
    def build(t: pa.Table) -> dict[str, Check]:
        rows = t.to_pylist()
        return {
            "schema_version": schema_version(t, schemas.WINDOWS_VERSION),
            "unique_windows": unique(t, ["video_id", "window_index"]),
            "no_nulls": no_nulls(t, schemas.WINDOWS),
            "window_index_contiguous": windows_contiguous(rows),
            "monotonic_times": windows_monotonic(rows),
            "every_chunk_tracked": windows_cover_chunks(
                _rows(store, "chunks", date, station),
                rows,
                failed_videos(store, date, station, ("tracks",)),
            ),
        }

    return _partition_checks(store, date, station, "windows", TRACK_CHECKS, build)


CODE_CHECKS = ("schema_version", "unique_windows", "no_nulls", "token_range",
               "every_window_has_codes")  # fmt: skip


def codes_checks(store: Storage, date: str, station: str) -> dict[str, Check]:
    def build(t: pa.Table) -> dict[str, Check]:
        rows = t.select(["video_id", "window_index", "codes", "codebook_size"]).to_pylist()
        return {
            "schema_version": schema_version(t, schemas.CODES_VERSION),
            "unique_windows": unique(t, ["video_id", "window_index"]),
            "no_nulls": no_nulls(t, schemas.CODES),
            "token_range": code_range(rows),
            "every_window_has_codes": codes_cover_windows(
                _rows(store, "windows", date, station), rows
            ),
        }

    return _partition_checks(store, date, station, "codes", CODE_CHECKS, build)


SEGMENT_CHECKS = ("schema_version", "unique_segment_ids", "no_nulls", "segments_ordered")
ENERGY_CHECKS = ("schema_version", "unique_windows", "no_nulls")
CLIP_CHECKS = ("every_segment_has_clip", "clips_decode")


def segments_checks(store: Storage, date: str, station: str) -> dict[str, Check]:
    def build(t: pa.Table) -> dict[str, Check]:
        return {
            "schema_version": schema_version(t, schemas.SEGMENTS_VERSION),
            "unique_segment_ids": unique(t, ["segment_id"]),
            "no_nulls": no_nulls(t, schemas.SEGMENTS),
            "segments_ordered": segments_ordered(t.to_pylist()),
        }

    return _partition_checks(store, date, station, "segments", SEGMENT_CHECKS, build)


def energy_checks(store: Storage, date: str, station: str) -> dict[str, Check]:
    return _partition_checks(store, date, station, "energy", ENERGY_CHECKS, lambda t: {
        "schema_version": schema_version(t, schemas.ENERGY_VERSION),
        "unique_windows": unique(t, ["video_id", "window_index"]),
        "no_nulls": no_nulls(t, schemas.ENERGY),
    })  # fmt: skip


def clip_checks(
    store: Storage, date: str, station: str, *, sample: int = CLIP_SAMPLE, written: bool = True
) -> dict[str, Check]:
    """Every segment has a clip or a failure reason; a seeded sample (seed: the partition)
    decodes to the right frame count. ``written=False``: the config turned clips off."""
    if not written:
        off = Check(True, "clips are not cut (write_clips is off): nothing to check", {})
        return dict.fromkeys(CLIP_CHECKS, off)

    def build(t: pa.Table) -> dict[str, Check]:
        rows = t.select(
            ["segment_id", "video_id", "start_frame", "end_frame", "clip_key"]
        ).to_pylist()
        failures = _rows(store, "failures", date, station)
        return {
            "every_segment_has_clip": segments_have_clips(rows, failures, date, station),
            "clips_decode": clips_decode(store, rows, sample=sample, seed=f"{date}|{station}"),
        }

    return _partition_checks(store, date, station, "segments", CLIP_CHECKS, build)
