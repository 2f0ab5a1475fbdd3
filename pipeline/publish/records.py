"""One publish record per segment: its metadata and its per-step codes, latents and frames.

Step selection is the segmentation stage's (``pipeline.segments.stage._segment_rows``): the
target-rate steps ``s`` of the video whose source frame ``source_index(s)`` lies in
``[start_frame, end_frame)`` and that some window covers (code >= 0). The same selection gives
``codes.npy``, ``latent.npy``, the JSONL lines and the Parquet ``codes``/``step_frames``
columns, and its codes must equal the ``codes`` column of the ``segments`` table (checked: a
mismatch means the segments are stale against the codes table).

- code of step ``s``: ``VideoSignals.step_codes()`` (the window that starts latest at or before
  ``s``);
- latent of step ``s``: the average of the pre-quantization latents of every window covering
  ``s`` (``pipeline.segments.energy.step_timeline``, the segmenter's ``zpre`` timeline; gated
  windows add zero vectors unless ``zero_gated=False``);
- ``next_frames[i]``: the source frame the step moves to, ``source_index(s + 1)``, clipped to
  the clip's last frame ``end_frame - 1`` (so only the last step of a segment can point at its
  own frame, when that frame is the clip's last).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.errors import PublishError
from pipeline.ingest.landing import source_index
from pipeline.segments.energy import step_timeline
from pipeline.segments.signals import VideoSignals

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SegmentSteps:
    """The published steps of one segment (n steps, latent dimension D)."""

    steps: np.ndarray  # (n,) int64 target-rate step index in the video
    source_frames: np.ndarray  # (n,) int64 source frame of each step, strictly increasing
    next_frames: np.ndarray  # (n,) int64 source frame each step moves to (module doc)
    codes: np.ndarray  # (n,) int16 FSQ index per step
    latent: np.ndarray  # (n, D) float32 per-step pre-quantization latent


@dataclass(frozen=True)
class SegmentRecord:
    """A segment ready to publish: ``meta`` is its JSON member (ordered fields)."""

    meta: dict[str, Any]
    steps: SegmentSteps
    clip_key: str | None

    @property
    def segment_id(self) -> str:
        return str(self.meta["segment_id"])

    @property
    def sort_key(self) -> tuple[str, int, str]:
        return (self.meta["video_id"], int(self.meta["start_frame"]), self.segment_id)


@dataclass(frozen=True)
class VideoTimeline:
    """One video's per-step code, source frame and latent timelines (computed once)."""

    codes: np.ndarray  # (S,) int32, -1 where no window covers the step
    frames: np.ndarray  # (S,) int64
    latent: np.ndarray  # (S, D) float64

    @classmethod
    def of(cls, sig: VideoSignals, *, zero_gated: bool = True) -> VideoTimeline:
        latent = step_timeline(
            sig.z_pre,
            sig.window_index,
            stride=sig.stride,
            gated=sig.gated if zero_gated else None,
            num_steps=sig.num_steps,
        ).values
        return cls(codes=sig.step_codes(), frames=sig.step_frames(), latent=latent)


def select_steps(
    sig: VideoSignals, timeline: VideoTimeline, start_frame: int, end_frame: int
) -> SegmentSteps:
    """The steps of source frames ``[start_frame, end_frame)`` (module doc)."""
    inside = (timeline.frames >= start_frame) & (timeline.frames < end_frame)
    idx = np.flatnonzero(inside & (timeline.codes >= 0))
    nxt = [source_index(int(s) + 1, sig.fps, sig.target_fps) for s in idx]
    return SegmentSteps(
        steps=idx.astype(np.int64),
        source_frames=timeline.frames[idx].astype(np.int64),
        next_frames=np.minimum(np.asarray(nxt, np.int64), end_frame - 1).reshape(-1),
        codes=timeline.codes[idx].astype(np.int16),
        latent=timeline.latent[idx].astype(np.float32).reshape(idx.size, -1),
    )


def segment_meta(
    row: Mapping[str, Any],
    video: Mapping[str, Any],
    steps: SegmentSteps,
    date: str,
    station: str,
    annotation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The JSON member of one sample (also the Parquet dataset's columns, minus shard/clip);
    ``annotation``: the segment's cluster (``cluster_id``, ``cluster_name``,
    ``library_version``) and language label (``instruction``), each null when absent."""
    ann = annotation or {}
    return {
        "segment_id": row["segment_id"],
        "video_id": row["video_id"],
        "source_uri": video["uri"],
        "file_name": video["file_name"],
        "date": date,
        "station": station,
        "start_frame": int(row["start_frame"]),
        "end_frame": int(row["end_frame"]),
        "start_sec": float(row["start_sec"]),
        "end_sec": float(row["end_sec"]),
        "num_frames": int(row["end_frame"]) - int(row["start_frame"]),
        "fps": float(row["fps"]),
        "target_fps": float(row["target_fps"]),
        "window_frames": int(row["window_frames"]),
        "stride_frames": int(row["stride_frames"]),
        "fsq_levels": [int(v) for v in row["fsq_levels"]],
        "codebook_size": int(row["codebook_size"]),
        "tokenizer_version": row["tokenizer_version"],
        "latent_dim": int(steps.latent.shape[1]),
        "segmenter": row["segmenter"],
        "num_steps": int(steps.codes.size),
        "step_frames": steps.source_frames.tolist(),
        "cluster_id": ann.get("cluster_id"),
        "cluster_name": ann.get("cluster_name"),
        "library_version": ann.get("library_version"),
        "instruction": ann.get("instruction"),
    }


def build_records(
    segments: Sequence[Mapping[str, Any]],
    videos: Sequence[Mapping[str, Any]],
    signals: Mapping[str, VideoSignals],
    *,
    date: str,
    station: str,
    tokenizer_version: str,
    zero_gated: bool = True,
    annotations: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[SegmentRecord]:
    """Records of every segment row, sorted by (video_id, start_frame); raises
    ``PublishError`` for a segment whose video, tokenizer or codes do not match the tables.
    ``annotations``: segment_id -> cluster and label fields (``segment_meta``)."""
    annotations = annotations or {}
    by_id = {v["video_id"]: v for v in videos}
    timelines: dict[str, VideoTimeline] = {}
    out = []
    for row in segments:
        vid = row["video_id"]
        if vid not in by_id or vid not in signals:
            raise PublishError(f"{date}/{station}: segment {row['segment_id']} of unknown {vid}")
        if row["tokenizer_version"] != tokenizer_version:
            raise PublishError(
                f"{date}/{station}: segment {row['segment_id']} has tokenizer "
                f"{row['tokenizer_version']}, the codes table {tokenizer_version}; rerun segments"
            )
        sig = signals[vid]
        if vid not in timelines:
            timelines[vid] = VideoTimeline.of(sig, zero_gated=zero_gated)
        steps = select_steps(sig, timelines[vid], int(row["start_frame"]), int(row["end_frame"]))
        if steps.codes.tolist() != [int(c) for c in row["codes"]]:
            raise PublishError(
                f"{date}/{station}: segment {row['segment_id']}: codes of the codes table "
                f"{steps.codes.tolist()[:8]}... differ from the segments table "
                f"{list(row['codes'])[:8]}...; the segments are stale, rerun segments"
            )
        meta = segment_meta(
            row, by_id[vid], steps, date, station, annotations.get(row["segment_id"])
        )
        out.append(SegmentRecord(meta=meta, steps=steps, clip_key=row["clip_key"]))
    out.sort(key=lambda r: r.sort_key)
    ids = [r.segment_id for r in out]
    if len(set(ids)) != len(ids):
        raise PublishError(f"{date}/{station}: duplicate segment_id in the segments table")
    return out
