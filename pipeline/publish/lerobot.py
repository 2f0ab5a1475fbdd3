"""Export the segments as a LeRobot v3.0 dataset: ``export_lerobot``.

One episode per segment that has a clip, in the order (date, station, video file name,
video_id, start_frame); one LeRobot frame per latent-action step, so the dataset's ``fps`` is the
segments' ``target_fps`` (10 Hz) and ``action.latent`` of frame ``k`` is the code of the
segment's step ``k``. The steps are the segmentation stage's (``pipeline.segments.stage.
_segment_rows``): the target-rate steps ``s`` of the video whose source frame
``source_index(s)`` lies in ``[start_frame, end_frame)`` and that a window covers (code >= 0),
rebuilt from the partition's ``windows`` and ``codes`` tables and checked against the segment's
``codes`` (a mismatch means stale segments: refused). Frame ``k``'s image is clip frame
``source_index(s_k) - start_frame``, resized to one common size.

Layout written under ``out_dir`` (what lerobot 0.4.4's ``LeRobotDataset(repo_id, root=out_dir)``
reads; CONVENTIONS.md "LeRobot v3")::

    meta/info.json            codebase_version "v3.0", fps, totals, chunks_size, paths, features
                              (every feature with dtype/shape/names), plus a "laps" provenance
                              block (tokenizer, codebook, partitions, the timestamp rule)
    meta/stats.json           min/max/mean/std/count/q01/q10/q50/q90/q99 per feature (the image
                              per channel in [0, 1], shape (3, 1, 1), exact from histograms)
    meta/tasks.parquet        one task; pandas index = task string, column task_index
    meta/episodes/chunk-CCC/file-FFF.parquet
                              one row per episode of that file: episode_index, tasks, length,
                              dataset_from_index/_to_index, data/..., videos/<key>/chunk_index,
                              file_index, from_timestamp, to_timestamp, meta/episodes/..., and
                              laps/* (segment_id, video_id, date, station, file_name,
                              start_frame, end_frame, source_fps, source_frames)
    data/chunk-CCC/file-FFF.parquet
                              one row per frame, sorted by the global contiguous ``index``:
                              action.latent (int64; shape [1] = a plain column), timestamp
                              (float32), frame_index, episode_index, index, task_index
    videos/observation.images.cam/chunk-CCC/file-FFF.mp4
                              the file's episodes back to back: H.264 yuv420p, constant fps =
                              dataset fps, keyframe every ``gop`` frames, pts = the frame's
                              position in the file at time base 1/fps

Episodes fill a file until it holds ``episodes_per_file`` episodes or ``max_file_seconds`` of
video; then the next file starts. LeRobot's ``chunks_size`` counts FILES per chunk folder: file
number ``n`` is ``chunk-{n // chunks_size}/file-{n % chunks_size}`` (its
``update_chunk_file_indices``). Data, video and episode metadata of a file share its indexes.

Timestamp rule: every time is an integer frame count over the integer fps, computed in float64:
``timestamp = float32(frame_index / fps)`` (episode-relative), ``from_timestamp = (frames of the
file before the episode) / fps`` and ``to_timestamp = (those + length) / fps`` (file-relative).
LeRobot looks a frame up at ``from_timestamp + timestamp`` and compares it with the decoded pts
in float32 with a 1e-4 s tolerance; float32 resolves 6.1e-5 s below 1024 s, so files are kept
under ``max_file_seconds`` (default 1000 s).

The export is built in a temporary sibling folder (``.tmp-<name>-*``: the store's temp prefix, so
an export into a local store is never listed half-written) and renamed into place, so a rerun
replaces it whole; a folder that is not empty and not an earlier export of this module is never
replaced.

Segments without a clip, whose clip is missing from the store, or without any covered step are
skipped and counted (logged and in the summary). Unusable inputs (mixed target rates or
tokenizers, stale segments, a short clip) raise ``ExportError``.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import av
import numpy as np

from pipeline.errors import ExportError, SegmentationError
from pipeline.io.keys import LEROBOT_DIR, PUBLISH_ROOT
from pipeline.io.storage import TMP_PREFIX, LocalStorage, Storage
from pipeline.io.tables import list_partitions, read_partition
from pipeline.publish.lerobot_files import (
    CHUNKS_SIZE,
    CRF,
    DEFAULT_TASK,
    EPISODES_PER_FILE,
    EXPORT_SCHEMA_VERSION,
    FLOAT32_SAFE_SECONDS,
    GOP,
    LATENT_KEY,
    MAX_FILE_SECONDS,
    VIDEO_KEY,
    EpisodeSource,
    _Writer,
)
from pipeline.segments.clips import publish_refusal
from pipeline.segments.stage import load_signals

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_TASK",
    "LATENT_KEY",
    "VIDEO_KEY",
    "EpisodeSource",
    "default_out_dir",
    "export_lerobot",
    "plan_episodes",
]


def default_out_dir(store: Storage, data_root: str | Path) -> Path:
    """Where the CLI and the asset export: ``<store>/publish/lerobot`` for a local store (the
    key ``pipeline.io.keys`` reserves), else ``<data_root>/lerobot`` (LeRobot reads a local
    folder; the export of an S3 store stays local)."""
    if isinstance(store, LocalStorage):
        return Path(store.uri(f"{PUBLISH_ROOT}/{LEROBOT_DIR}"))
    return Path(data_root) / LEROBOT_DIR


def plan_episodes(
    store: Storage, partitions: Sequence[tuple[str, str]] | None = None
) -> tuple[list[EpisodeSource], dict[str, int]]:
    """The episodes of ``partitions`` (default: every partition of the segments table), in
    export order, and how many segments were skipped per reason."""
    parts = (
        sorted(set(partitions)) if partitions is not None else list_partitions(store, "segments")
    )
    skipped = {"no_clip": 0, "missing_clip": 0, "no_steps": 0}
    episodes: list[EpisodeSource] = []
    for date, station in parts:
        segments = read_partition(store, "segments", date, station)
        if segments is None:
            raise ExportError(f"{date}/{station}: no segments table; run the segments stage")
        refusal = publish_refusal(segments.schema.metadata, segments.column("fps").to_pylist())
        if refusal:
            raise ExportError(f"{date}/{station}: {refusal}")
        try:
            videos, signals, tok = load_signals(store, date, station)
        except SegmentationError as exc:
            raise ExportError(f"{date}/{station}: cannot rebuild the steps: {exc}") from exc
        names = {v["video_id"]: v["file_name"] for v in videos}
        timelines: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for row in segments.to_pylist():
            sid, vid = row["segment_id"], row["video_id"]
            if row["clip_key"] is None:
                skipped["no_clip"] += 1
                continue
            if vid not in signals:
                raise ExportError(f"{date}/{station}: segment {sid} of unknown video {vid}")
            if row["tokenizer_version"] != tok["tokenizer_version"]:
                raise ExportError(
                    f"{date}/{station}: segment {sid} has tokenizer {row['tokenizer_version']}, "
                    f"the codes table {tok['tokenizer_version']}; rerun segments"
                )
            if vid not in timelines:
                timelines[vid] = (signals[vid].step_frames(), signals[vid].step_codes())
            frames, codes = timelines[vid]
            start, end = int(row["start_frame"]), int(row["end_frame"])
            steps = np.flatnonzero((frames >= start) & (frames < end) & (codes >= 0))
            step_codes = [int(c) for c in codes[steps]]
            if step_codes != [int(c) for c in row["codes"]]:
                raise ExportError(
                    f"{date}/{station}: segment {sid}: the codes table gives {step_codes[:8]}... "
                    f"but the segment holds {list(row['codes'])[:8]}...; rerun segments"
                )
            if steps.size == 0:
                skipped["no_steps"] += 1
                continue
            if not store.exists(row["clip_key"]):
                log.warning(
                    "%s/%s: clip %s of segment %s is missing", date, station, row["clip_key"], sid
                )
                skipped["missing_clip"] += 1
                continue
            episodes.append(
                EpisodeSource(
                    date=date,
                    station=station,
                    file_name=names[vid],
                    video_id=vid,
                    segment_id=sid,
                    start_frame=start,
                    end_frame=end,
                    clip_key=row["clip_key"],
                    source_fps=float(row["fps"]),
                    target_fps=float(row["target_fps"]),
                    tokenizer_version=row["tokenizer_version"],
                    codebook_size=int(row["codebook_size"]),
                    fsq_levels=tuple(int(v) for v in row["fsq_levels"]),
                    source_frames=tuple(int(f) for f in frames[steps]),
                    codes=tuple(step_codes),
                )
            )
    for reason, n in skipped.items():
        if n:
            log.warning("skipped %d segments: %s", n, reason)
    episodes.sort(key=lambda e: e.sort_key)
    return episodes, skipped


def export_lerobot(
    store: Storage,
    out_dir: str | Path,
    *,
    partitions: Sequence[tuple[str, str]] | None = None,
    size: tuple[int, int] | None = None,
    task: str = DEFAULT_TASK,
    episodes_per_file: int = EPISODES_PER_FILE,
    max_file_seconds: float = MAX_FILE_SECONDS,
    chunks_size: int = CHUNKS_SIZE,
    crf: int = CRF,
    gop: int = GOP,
) -> dict[str, Any]:
    """Write the LeRobot v3.0 export of ``partitions`` (default all) to the local folder
    ``out_dir``, replacing an earlier export there (module doc). ``size`` = (w, h), even; default
    the first episode's clip size. Returns a summary: ``episodes``, ``frames``, ``out``,
    ``seconds``, ``fps``, ``size``, ``files``, ``skipped``, ``partitions``."""
    t0 = time.monotonic()
    out = Path(out_dir).absolute()
    if episodes_per_file < 1 or chunks_size < 1 or max_file_seconds <= 0 or gop < 1:
        raise ExportError("episodes_per_file, chunks_size, gop must be >= 1, max_file_seconds > 0")
    if max_file_seconds >= FLOAT32_SAFE_SECONDS:
        log.warning(
            "max_file_seconds %.0f >= %.0f: LeRobot's float32 timestamp check may fail "
            "late in a file",
            max_file_seconds,
            FLOAT32_SAFE_SECONDS,
        )
    _check_replaceable(out)
    episodes, skipped = plan_episodes(store, partitions)
    if not episodes:
        raise ExportError(f"nothing to export: no segment with a clip and steps ({skipped})")
    fps = _dataset_fps(episodes)
    tokenizers = sorted({(e.tokenizer_version, e.codebook_size, e.fsq_levels) for e in episodes})
    if len(tokenizers) != 1:
        raise ExportError(f"segments of {len(tokenizers)} tokenizers {tokenizers}; export one")
    width, height = _check_size(size) if size is not None else _clip_size(store, episodes[0])

    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_siblings(out)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{out.name}-", dir=out.parent))
    writer: _Writer | None = None
    try:
        writer = _Writer(
            tmp, fps=fps, size=(width, height), task=task, crf=crf, gop=gop, chunks_size=chunks_size
        )
        max_frames = max(1, int(math.floor(max_file_seconds * fps)))
        for ep in episodes:
            if ep.length > max_frames:
                log.warning(
                    "segment %s: %d frames exceed max_file_seconds on its own",
                    ep.segment_id,
                    ep.length,
                )
            if writer.file_episodes and (
                writer.file_episodes >= episodes_per_file
                or writer.file_frames + ep.length > max_frames
            ):
                writer.close_file()
            writer.add_episode(ep, _clip_frames(store, ep, (width, height)))
        writer.close_file()
        tok_version, codebook_size, levels = tokenizers[0]
        provenance = {
            "exporter": __name__,
            "schema_version": EXPORT_SCHEMA_VERSION,
            "tokenizer_version": tok_version,
            "codebook_size": codebook_size,
            "fsq_levels": list(levels),
            "source_fps": sorted({e.source_fps for e in episodes}),
            "partitions": sorted({f"{e.date}/{e.station}" for e in episodes}),
            "skipped_segments": skipped,
            "timestamp_rule": "timestamp = frame_index / fps; from_timestamp = frames of the "
            "file before the episode / fps; integers over the integer fps",
            "frame_rule": "frame k = clip frame source_index(step_k) - start_frame",
        }
        writer.finish(provenance)
        _swap_into_place(tmp, out)
    except BaseException:
        if writer is not None:
            writer.abort()
        shutil.rmtree(tmp, ignore_errors=True)  # best effort; the original error propagates
        raise
    summary = {
        "out": str(out),
        "episodes": len(episodes),
        "frames": writer.total_frames,
        "fps": fps,
        "size": [width, height],
        "files": writer.files_written,
        "skipped": skipped,
        "partitions": sorted({(e.date, e.station) for e in episodes}),
        "seconds": round(time.monotonic() - t0, 3),
    }
    log.info(
        "LeRobot export %s: %d episodes, %d frames, %d files in %.1f s",
        out,
        len(episodes),
        writer.total_frames,
        writer.files_written,
        summary["seconds"],
    )
    return summary


def _dataset_fps(episodes: Sequence[EpisodeSource]) -> int:
    rates = sorted({e.target_fps for e in episodes})
    if len(rates) != 1:
        raise ExportError(f"segments of mixed target rates {rates}: export one rate at a time")
    if not float(rates[0]).is_integer() or rates[0] <= 0:
        raise ExportError(f"target_fps {rates[0]} is not a positive integer (LeRobot's fps)")
    return int(rates[0])


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    w, h = (int(v) for v in size)
    if w < 2 or h < 2 or w % 2 or h % 2:
        raise ExportError(f"size must be even (w, h) >= 2 (H.264 yuv420p), got {size}")
    return w, h


def _clip_size(store: Storage, ep: EpisodeSource) -> tuple[int, int]:
    with store.local_path(ep.clip_key) as path, av.open(str(path)) as container:
        ctx = container.streams.video[0].codec_context
        w, h = int(ctx.width), int(ctx.height)
    return max(2, w - w % 2), max(2, h - h % 2)


def _clip_frames(store: Storage, ep: EpisodeSource, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """RGB uint8 (h, w, 3) frames of the episode, in step order, from one pass over its clip."""
    wanted = ep.clip_frames
    w, h = size
    with store.local_path(ep.clip_key) as path, av.open(str(path)) as container:
        stream = container.streams.video[0]
        pos, decoded = 0, 0
        for frame in container.decode(stream):
            if pos == len(wanted):
                break
            if decoded == wanted[pos]:
                same = frame.width == w and frame.height == h
                img = frame.reformat(
                    width=w, height=h, format="rgb24", interpolation=None if same else "AREA"
                )
                yield img.to_ndarray()
                pos += 1
            decoded += 1
        if pos < len(wanted):
            raise ExportError(
                f"clip {ep.clip_key} ended after {decoded} frames; segment {ep.segment_id} needs "
                f"frame {wanted[pos]} (its clip must hold source frames "
                f"[{ep.start_frame}, {ep.end_frame}))"
            )


def _is_export(folder: Path) -> bool:
    info = folder / "meta" / "info.json"
    if not info.is_file():
        return False
    try:
        data = json.loads(info.read_text())
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable (%s)", info, exc)
        return False
    return isinstance(data, dict) and (data.get("laps") or {}).get("exporter") == __name__


def _check_replaceable(out: Path) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder")
    if any(out.iterdir()) and not _is_export(out):
        raise ExportError(f"refusing to replace {out}: not empty and not a laps LeRobot export")


def _remove_stale_siblings(out: Path) -> None:
    """Delete replaced exports left by a crash; report (never delete) unfinished temp folders,
    which may belong to an export still running."""
    for old in out.parent.glob(f"{TMP_PREFIX}{out.name}.old-*"):
        log.warning("removing %s (left by an interrupted export)", old)
        shutil.rmtree(old)
    for tmp in out.parent.glob(f"{TMP_PREFIX}{out.name}-*"):
        log.warning("%s: unfinished export folder (crashed or still running)", tmp)


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished export to ``out``; an earlier export there is moved aside first and
    deleted after (readers see the old export, then the new one)."""
    old = None
    if out.exists():
        old = out.with_name(f"{TMP_PREFIX}{out.name}.old-{uuid.uuid4().hex[:8]}")
        out.rename(old)
    try:
        tmp.rename(out)
    except OSError:
        if old is not None:
            old.rename(out)  # put the earlier export back
        raise
    if old is not None:
        shutil.rmtree(old)
