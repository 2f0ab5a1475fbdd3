"""The segmentation stage of one (date, station) partition: ``segment_partition``.

Reads the ``videos``, ``windows`` and ``codes`` tables, segments every video
(``pipeline.segments``: label-free station calibration, then the configured segmenter) and
writes, clips first and tables last (a crash never leaves a table pointing at missing clips):

- ``clips/date=D/station=S/<video_id[:16]>/<segment_id>.mp4``: one H.264 clip per non-idle
  segment, exact source frames ``[start_frame, end_frame)`` at the source fps, scaled to the
  ``ClipConfig`` short side (``pipeline.segments.clips``; ``clips.json`` beside them records the
  settings, as the segment file's ``meta.clips`` does); clips of earlier runs that no segment
  names any more are deleted. Videos' clips are cut on up to ``workers`` processes
  (``pipeline.workers``), the same bytes as with one;
- ``segments/date=D/station=S/<stem>.segments.json``: the contiguous segmentation of each video
  (labels ``active`` / ``idle``, docs/formats.md schema) with its provenance in ``meta``;
- the ``energy`` table (``schemas.ENERGY``, one row per window) and the ``segments`` table
  (``schemas.SEGMENTS``, one row per non-idle segment).

``segment_id`` = first 32 hex of sha256(``video_id|start_frame|end_frame|tokenizer_version``).
A segment's windows are those centred inside it (the nearest one if none); ``mean_energy`` /
``peak_energy`` are over them, of the gate's energy (``cfg.energy``, LAE of z_q by default).
Its ``codes`` hold one code per target-rate step whose source frame lies in the segment (see
``VideoSignals.step_codes``). Reruns replace every output of the partition: same inputs and
config give the same rows, ids and files.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.context import StageSummary
from pipeline.errors import SegmentStageError
from pipeline.io import schemas
from pipeline.io.keys import (
    clip_key,
    clips_prefix,
    plots_prefix,
    segment_file_key,
    segments_prefix,
    video_stems,
)
from pipeline.io.storage import Storage
from pipeline.io.tables import failed_videos, read_partition, write_failures, write_partition
from pipeline.quality import check_segment_rate, station_rate_history
from pipeline.segments.clips import ClipConfig, ClipSpec, record_key, write_clips
from pipeline.segments.config import SegmentationConfig
from pipeline.segments.motion import MotionFeatures, motion_features, step_velocities
from pipeline.segments.plots import station_plots, write_energy_plots
from pipeline.segments.segfile import IDLE_LABEL, SegmentFile
from pipeline.segments.signals import VideoSignals, build_signals
from pipeline.segments.station import FrameSegment, StationResult, segment_station
from pipeline.tracks.stage import FILE_FAULTS, failure_row, open_video_uri, video_location
from pipeline.tracks.store import load_tracks
from pipeline.workers import map_videos

log = logging.getLogger(__name__)

VideoCallback = Callable[[int, int, str], None]  # (videos done, total, file name)


def segment_id(video_id: str, start_frame: int, end_frame: int, tokenizer_version: str) -> str:
    """First 32 hex chars of sha256("video_id|start_frame|end_frame|tokenizer_version")."""
    blob = f"{video_id}|{int(start_frame)}|{int(end_frame)}|{tokenizer_version}"
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def _tokenizer_meta(codes: pa.Table) -> dict[str, Any]:
    meta = codes.schema.metadata or {}
    if b"tokenizer_version" not in meta or b"tokenizer_config" not in meta:
        raise SegmentStageError("codes table lacks tokenizer_version/tokenizer_config metadata")
    cfg = json.loads(meta[b"tokenizer_config"])
    levels = [int(v) for v in cfg["fsq_levels"]]
    return {
        "tokenizer_version": meta[b"tokenizer_version"].decode(),
        "fsq_levels": levels,
        "codebook_size": int(np.prod(levels)),
        "window_frames": int(cfg["window_frames"]),
    }


def _video_motion(store: Storage, windows: list[dict], cfg: SegmentationConfig) -> MotionFeatures:
    """Per-step track energies of one video from its stored track parts (sorted keys)."""
    keys = sorted({w["tracks_key"] for w in windows})
    stride = int(windows[0]["stride_frames"]) if windows else 1

    def parts():
        for key in keys:
            with store.local_path(key) as path:
                yield load_tracks(path)

    return motion_features(
        step_velocities(parts(), stride=stride),
        smooth_steps=cfg.motion_smooth_steps,
        conveyor_filter=cfg.conveyor_filter,
    )


def load_signals(
    store: Storage,
    date: str,
    station: str,
    *,
    track_features: SegmentationConfig | None = None,
    workers: int = 1,
) -> tuple[list[dict], dict[str, VideoSignals], dict[str, Any]]:
    """Videos (sorted by id), their signals and the tokenizer metadata of one partition;
    with ``track_features`` (the config to compute them with) also the per-step track energies
    (reads every track file, one video per process on up to ``workers`` processes)."""
    read = {t: read_partition(store, t, date, station) for t in ("videos", "windows", "codes")}
    tables = {t: v for t, v in read.items() if v is not None}
    missing = sorted(set(read) - set(tables))
    if missing:
        raise SegmentStageError(f"{date}/{station}: tables {missing} missing; run them first")
    by_video: dict[str, dict[str, list[dict]]] = {}
    for name in ("windows", "codes"):
        for row in tables[name].to_pylist():
            by_video.setdefault(row["video_id"], {"windows": [], "codes": []})[name].append(row)
    failed = failed_videos(store, date, station, ("tracks",))
    if failed:
        log.warning("%s/%s: %d video(s) failed tracking and are not segmented", date, station,
                    len(failed))  # fmt: skip
    videos = sorted(
        (v for v in tables["videos"].to_pylist() if v["video_id"] not in failed),
        key=lambda r: r["video_id"],
    )
    rows = [by_video.get(v["video_id"], {"windows": [], "codes": []}) for v in videos]
    energies: list[MotionFeatures | None] = [None] * len(videos)
    if track_features:
        energies = map_videos(
            _video_motion, store, [(r["windows"], track_features) for r in rows], workers=workers
        )  # type: ignore[assignment]
    signals = {
        v["video_id"]: build_signals(v, r["windows"], r["codes"], motion=energy)
        for v, r, energy in zip(videos, rows, energies, strict=True)
    }
    return videos, signals, _tokenizer_meta(tables["codes"])


def segment_partition(
    store: Storage,
    date: str,
    station: str,
    cfg: SegmentationConfig,
    *,
    write_clips: bool = True,
    on_video: VideoCallback | None = None,
    clips: ClipConfig | None = None,
    workers: int = 1,
    on_clips: Callable[[int, int], None] | None = None,
) -> StageSummary:
    """Segment every video of the partition; write clips (``clips`` settings, on up to
    ``workers`` processes; ``on_clips(videos done, total)``), segment files and tables."""
    clip_cfg = clips or ClipConfig()
    for prefix in (clips_prefix(date, station), segments_prefix(date, station)):
        store.sweep_temp(prefix)  # what a killed earlier run left half-written
    videos, signals, tok = load_signals(
        store, date, station, track_features=cfg if cfg.needs_tracks else None, workers=workers
    )
    stems = video_stems(videos)
    result = segment_station(signals, cfg)
    energy_rows: list[dict] = []
    segment_rows: list[dict] = []
    json_keys: dict[str, str] = {}
    clip_counts = {"written": 0, "kept": 0, "failed": 0}
    clip_failures: list[dict] = []
    per_video = {
        v["video_id"]: _segment_rows(
            v, signals[v["video_id"]], result.videos[v["video_id"]].segments,
            result.videos[v["video_id"]].energy, tok, cfg,
        )
        for v in videos
    }  # fmt: skip
    statuses: dict[str, dict[str, str]] = {}
    clip_t0 = time.perf_counter()
    if write_clips:
        todo = [(date, station, v, _clip_specs(date, station, per_video[v["video_id"]]), clip_cfg)
                for v in videos if per_video[v["video_id"]]]  # fmt: skip
        done = map_videos(
            _write_video_clips, store, todo, workers=workers,
            on_result=(lambda i, _: on_clips(i + 1, len(todo))) if on_clips else None,
        )  # fmt: skip
        statuses = {item[2]["video_id"]: st for item, st in zip(todo, done, strict=True)}
    clip_seconds = time.perf_counter() - clip_t0
    for n, v in enumerate(videos):
        vid = v["video_id"]
        sig, res = signals[vid], result.videos[vid]
        rows = per_video[vid]
        if write_clips and rows:
            status = statuses[vid]
            for r in rows:
                state = status.get(r["clip_key"], "failed: no status")
                clip_counts[state.split(":")[0]] += 1
                if state.startswith("failed"):
                    clip_failures.append(_clip_failure(v, r["clip_key"], state))
                    r["clip_key"] = None
        else:
            for r in rows:
                r["clip_key"] = None
        segment_rows.extend(rows)
        energy_rows.extend(_energy_rows(sig, res.smoothed, result, tok))
        key = segment_file_key(date, station, stems[vid])
        record = clip_cfg.record(int(v["width"]), int(v["height"])) if write_clips else None
        store.write_bytes(
            key, _segment_file(v, sig, res.segments, result, cfg, tok, res.granularity, record)
        )
        json_keys[stems[vid]] = key
        if on_video:
            on_video(n + 1, len(videos), v["file_name"])
    if write_clips:
        kept = {r["clip_key"] for r in segment_rows}
        kept |= {record_key(clip_key(date, station, vid, "x")) for vid, r in per_video.items() if r}
        _prune(store, clips_prefix(date, station), kept)
    write_failures(store, date, station, "clips", clip_failures)
    _prune(store, segments_prefix(date, station), set(json_keys.values()))
    # what the configured method used (its per-step input or the gate's energy) and chose
    plots = write_energy_plots(
        store, date, station, station_plots(videos, stems, signals, result, cfg)
    )
    _prune(store, plots_prefix(date, station), set(plots))
    history = station_rate_history(store, station, before=date)
    seconds = sum(float(v["duration_sec"]) for v in videos)
    meta = {
        "segmentation_config": cfg.model_dump(mode="json"),
        "segmenter": cfg.label(),
        "calibrated": result.calibrated,  # publish refuses segments of an uncalibrated station
        "clips": clip_cfg.model_dump(mode="json") if write_clips else None,
    }
    keys = {
        "energy": write_partition(
            store, "energy", date, station, energy_rows,
            schema=schemas.ENERGY, schema_version=schemas.ENERGY_VERSION, metadata=meta,
        ),
        "segments": write_partition(
            store, "segments", date, station, segment_rows,
            schema=schemas.SEGMENTS, schema_version=schemas.SEGMENTS_VERSION, metadata=meta,
        ),
    }  # fmt: skip
    return StageSummary(
        rows={"energy": len(energy_rows), "segments": len(segment_rows)},
        keys=keys,
        extra={
            "videos": len(videos),
            "segmented_videos": sum(1 for v in videos if signals[v["video_id"]].codes.size),
            "segment_files": json_keys,
            "clips": clip_counts if write_clips else {},
            "clip_seconds": round(clip_seconds, 3),  # wall time of cutting the clips
            "thr_on": result.thr_on,
            "thr_off": result.thr_off,
            "calibration": result.calibration,
            "calibrated": result.calibrated,
            "segmenter": cfg.label(),
            "tokenizer_version": tok["tokenizer_version"],
            "energy_plots": plots,
            "video_seconds": seconds,
            "segment_rate": check_segment_rate(len(segment_rows), seconds, history),
            "granularity": granularity_summary(result),
            "belt_filter": {
                stems[v["video_id"]]: belt
                for v in videos
                if (belt := belt_filter_summary(signals[v["video_id"]])) is not None
            },
        },
    )


def _segment_rows(
    video: Mapping[str, Any],
    sig: VideoSignals,
    segments: tuple[FrameSegment, ...],
    energy: np.ndarray,
    tok: Mapping[str, Any],
    cfg: SegmentationConfig,
) -> list[dict]:
    fps = float(video["fps"])
    step_codes = sig.step_codes()
    step_frames = sig.step_frames()
    centres = sig.centre_sec
    rows: list[dict[str, Any]] = []
    for seg in segments:
        if seg.label == IDLE_LABEL:
            continue
        start, end = seg.start_frame / fps, seg.end_frame / fps
        inside = np.flatnonzero((centres >= start) & (centres < end))
        if inside.size == 0 and centres.size:
            inside = np.array([int(np.argmin(np.abs(centres - (start + end) / 2)))])
        in_steps = (step_frames >= seg.start_frame) & (step_frames < seg.end_frame)
        codes = step_codes[in_steps]
        sid = segment_id(sig.video_id, seg.start_frame, seg.end_frame, tok["tokenizer_version"])
        rows.append(
            {
                "segment_id": sid,
                "video_id": sig.video_id,
                "segment_index": len(rows),
                "start_frame": seg.start_frame,
                "end_frame": seg.end_frame,
                "start_sec": start,
                "end_sec": end,
                "first_window": int(sig.window_index[inside].min()) if inside.size else -1,
                "last_window": int(sig.window_index[inside].max()) if inside.size else -1,
                "codes": codes[codes >= 0].astype(np.int16).tolist(),
                "mean_energy": float(energy[inside].mean()) if inside.size else 0.0,
                "peak_energy": float(energy[inside].max()) if inside.size else 0.0,
                "segmenter": cfg.label(),
                "clip_key": None,
                "fps": fps,
                "target_fps": float(video["target_fps"]),
                "tokenizer_version": tok["tokenizer_version"],
                "fsq_levels": tok["fsq_levels"],
                "codebook_size": tok["codebook_size"],
                "window_frames": tok["window_frames"],
                "stride_frames": sig.stride,
            }
        )
    return rows


def _energy_rows(
    sig: VideoSignals, smoothed: np.ndarray, result: StationResult, tok: Mapping[str, Any]
) -> list[dict]:
    lae, lae_pre = sig.energy("lae"), sig.energy("lae_pre")
    centres = sig.centre_sec
    return [
        {
            "video_id": sig.video_id,
            "window_index": int(sig.window_index[i]),
            "start_sec": float(sig.start_sec[i]),
            "end_sec": float(sig.end_sec[i]),
            "center_sec": float(centres[i]),
            "gated": bool(sig.gated[i]),
            "lae": float(lae[i]),
            "lae_pre": float(lae_pre[i]),
            "track_speed": float(sig.stats["track_speed"][i]),
            "flow_magnitude": float(sig.stats["flow_magnitude"][i]),
            "pixel_diff": float(sig.stats["pixel_diff"][i]),
            "lae_smoothed": float(smoothed[i]),
            "thr_on": result.thr_on,
            "thr_off": result.thr_off,
            "tokenizer_version": tok["tokenizer_version"],
        }
        for i in range(sig.window_index.size)
    ]


def granularity_summary(result: StationResult) -> dict[str, int]:
    """Over the station's videos: how many had their change-point count set by each rule and
    how many fine pieces the ``adaptive`` or ``repeat`` rule merged away
    (``ChangePointSegmenter``)."""
    out: dict[str, int] = {"merged": 0}
    for res in result.videos.values():
        g = res.granularity or {}
        if g:
            fired = f"videos_{g.get('fired')}"
            out[fired] = out.get(fired, 0) + 1
            out["merged"] += int(g.get("merged") or 0)
    return out


def belt_filter_summary(sig: VideoSignals) -> dict[str, int] | None:
    """How many grid points the belt filter down-weighted in one video (``None`` without track
    features): a sudden rise at a station means the filter may be taking a worker's region."""
    if sig.motion is None:
        return None
    w = sig.motion.point_weight
    return {
        "points": int(w.size),
        "down_weighted": int((w < 0.5).sum()),
        "removed": int((w == 0).sum()),
    }


def _segment_file(
    video: Mapping[str, Any],
    sig: VideoSignals,
    segments: tuple[FrameSegment, ...],
    result: StationResult,
    cfg: SegmentationConfig,
    tok: Mapping[str, Any],
    granularity: Mapping[str, Any] | None = None,
    clips: Mapping[str, Any] | None = None,
) -> bytes:
    fps = float(video["fps"])
    meta = {
        "segmenter": cfg.label(),
        "video_id": video["video_id"],
        "tokenizer_version": tok["tokenizer_version"],
        "energy": cfg.energy,
        "hysteresis": result.recorded_params().model_dump(mode="json"),  # `laps eval` reuses it
        "calibration": result.calibration,
        "segmentation_config": cfg.model_dump(mode="json"),
    }
    belt = belt_filter_summary(sig)
    if belt is not None:
        meta["belt_filter"] = belt
    if granularity is not None:
        meta["granularity"] = granularity
    if clips is not None:
        meta["clips"] = dict(clips)  # the settings its clips were cut with (size, x264)
    segfile = SegmentFile(
        video=video["file_name"],
        fps=fps,
        duration_sec=segments[-1].end_frame / fps,
        segments=tuple(s.seconds(fps) for s in segments),
        meta=meta,
    ).validate(video["file_name"])
    return (json.dumps(segfile.to_dict(), indent=1, allow_nan=False) + "\n").encode()


def _clip_specs(date: str, station: str, rows: list[dict]) -> list[ClipSpec]:
    """The clips of one video's segment rows (their ``clip_key`` set)."""
    specs = []
    for r in rows:
        r["clip_key"] = clip_key(date, station, r["video_id"], r["segment_id"])
        specs.append(ClipSpec(r["clip_key"], r["start_frame"], r["end_frame"]))
    return specs


def _write_video_clips(
    store: Storage,
    date: str,
    station: str,
    video: Mapping[str, Any],
    specs: list[ClipSpec],
    config: ClipConfig,
) -> dict[str, str]:
    """Cut one video's clips (a worker's unit of work: one decode of the source)."""
    try:
        with open_video_uri(video_location(video)) as path:
            return write_clips(
                store,
                path,
                specs,
                fps=float(video["fps"]),
                width=int(video["width"]),
                height=int(video["height"]),
                config=config,
            )
    except FILE_FAULTS as err:  # the video vanished or cannot be opened: its clips fail, not all
        detail = failure_row(video, None, err)["detail"]
        log.warning("clips of %s failed: %s", video["uri"], detail)
        return {spec.key: f"failed: {detail}" for spec in specs}


def _clip_failure(video: Mapping[str, Any], key: str, state: str) -> dict[str, Any]:
    detail = state.removeprefix("failed:").strip() or "clip not written"
    return {
        "video_id": video["video_id"],
        "uri": video["uri"],
        "file_name": video["file_name"],
        "item": key,
        "reason": "clip_failed",
        "detail": detail,
    }


def _prune(store: Storage, prefix: str, keep: set[str | None]) -> int:
    """Delete objects under ``prefix`` that this run did not (re)write."""
    stale = [i.key for i in store.list(prefix) if i.key not in keep]
    for key in stale:
        store.delete(key)
    if stale:
        log.info("removed %d stale objects under %s", len(stale), prefix)
    return len(stale)
