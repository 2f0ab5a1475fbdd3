"""Per-video signals of the segmentation stage, rebuilt from the ``windows`` and ``codes`` tables.

Everything is keyed by ``window_index`` (window ``w`` starts at target-rate frame ``w * stride``
and covers steps ``w * stride .. w * stride + T-2``) and carries times in seconds of the source
video. Step ``s`` is the velocity from target-rate frame ``s`` to ``s + 1``; its source frame is
``pipeline.ingest.landing.source_index(s)`` and its time that frame over the source fps.

- ``z_q`` is rebuilt from the stored FSQ indices (``models.fsq`` convention: mixed radix, first
  dim least significant; normalized code = integer code / (L // 2)), ``z_pre`` from
  ``latent_pre``. Gated windows are idle: their energies are 0.
- Per-step features: latent timelines (``step_timeline``), window statistics interpolated
  from window centres to step times, and the square roots of the per-step motion and occlusion
  energies of the tracks (``pipeline.segments.motion``), each phase of the window stride
  standardised on its own.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.errors import SignalError
from pipeline.io.video import source_index
from pipeline.segments.energy import latent_action_energy, step_timeline
from pipeline.segments.motion import MotionFeatures, phase_standardize
from pipeline.segments.segmenters import robust_standardize

log = logging.getLogger(__name__)


def codes_to_latents(codes: np.ndarray, levels: Sequence[int]) -> np.ndarray:
    """FSQ indices (...,) -> normalized codes (..., D) float32 (same as ``FSQ.indices_to_codes``).

    index = sum_i (integer_code_i + L_i // 2) * prod(L_0..L_{i-1}); normalized = integer / (L//2).
    """
    lv = np.asarray([int(v) for v in levels], dtype=np.int64)
    if lv.size == 0 or np.any(lv < 2):
        raise SignalError(f"FSQ levels must be ints >= 2, got {list(levels)}")
    idx = np.asarray(codes, dtype=np.int64)
    size = int(np.prod(lv))
    if idx.size and (idx.min() < 0 or idx.max() >= size):
        raise SignalError(f"codes outside [0, {size}): min {idx.min()}, max {idx.max()}")
    basis = np.cumprod(np.concatenate([[1], lv[:-1]]))  # (D,)
    digits = (idx[..., None] // basis) % lv  # (..., D)
    half = (lv // 2).astype(np.float32)
    return ((digits.astype(np.float32) - half) / half).astype(np.float32)


@dataclass(frozen=True)
class VideoSignals:
    """One video's windows (sorted by ``window_index``) with codes, latents and energies."""

    video_id: str
    fps: float  # source frames per second
    target_fps: float
    stride: int  # target-rate frames between window starts
    frame_count: int
    window_index: np.ndarray  # (W,) int64
    start_sec: np.ndarray  # (W,) first frame of the window
    end_sec: np.ndarray  # (W,) last frame of the window
    gated: np.ndarray  # (W,) bool
    codes: np.ndarray  # (W, S) int16 FSQ indices, S = T-1 steps per window
    z_q: np.ndarray  # (W, S, D) float32
    z_pre: np.ndarray  # (W, S, D) float32
    stats: dict[str, np.ndarray]  # track_speed, flow_magnitude, pixel_diff: (W,) float64
    motion: MotionFeatures | None = None  # per-step track energies, if loaded

    @property
    def centre_sec(self) -> np.ndarray:
        return (self.start_sec + self.end_sec) / 2.0

    @property
    def duration_sec(self) -> float:
        return self.frame_count / self.fps

    def energy(self, name: str) -> np.ndarray:
        """(W,) float64 ``lae`` (on z_q) or ``lae_pre`` (on z_pre); gated windows 0."""
        z = {"lae": self.z_q, "lae_pre": self.z_pre}.get(name)
        if z is None:
            raise SignalError(f"unknown energy {name!r}; expected lae or lae_pre")
        if z.shape[0] == 0:
            return np.zeros(0)
        return np.where(self.gated, 0.0, latent_action_energy(z))

    @property
    def num_steps(self) -> int:
        """Steps covered by at least one window (0 without windows)."""
        if self.window_index.size == 0:
            return 0
        return int(self.window_index[-1]) * self.stride + self.codes.shape[1]

    def step_frames(self, n: int | None = None) -> np.ndarray:
        """(n,) int64 source frame of steps 0..n-1 (default: every covered step)."""
        n = self.num_steps if n is None else n
        return np.array([source_index(s, self.fps, self.target_fps) for s in range(n)], np.int64)

    def step_times(self) -> np.ndarray:
        """(S,) float64 start time of each covered step, s."""
        return self.step_frames() / self.fps

    def step_codes(self) -> np.ndarray:
        """(S,) int32 per-step code timeline; -1 where no window covers the step.

        Step ``s`` takes the code of the window that starts latest at or before it (and covers
        it): window ``w = s // stride`` (or the last window, for the tail), token ``s - w*stride``.
        """
        out = np.full(self.num_steps, -1, np.int32)
        if self.window_index.size == 0:
            return out
        starts = self.window_index * self.stride  # (W,)
        steps = np.arange(self.num_steps)
        pos = np.searchsorted(starts, steps, side="right") - 1  # latest window start <= s
        ok = pos >= 0
        offset = steps - starts[np.maximum(pos, 0)]
        ok &= offset < self.codes.shape[1]
        out[ok] = self.codes[pos[ok], offset[ok]]
        return out

    def step_features(self, features: Sequence[str], weights: Sequence[float]) -> np.ndarray:
        """(S, d) per-step sequence: each group robustly standardised, divided by sqrt(its
        dims) and multiplied by its weight, then concatenated (see ``SegmentationConfig``)."""
        groups = []
        for name, weight in zip(features, weights, strict=True):
            x = robust_standardize(self._raw_feature(name))
            if x.shape[1] == 0 or weight == 0:
                log.debug("%s: feature %s is constant or weighted 0; left out", self.video_id, name)
                continue
            groups.append(x * (weight / math.sqrt(x.shape[1])))
        if not groups:
            return np.zeros((self.num_steps, 0))
        return np.concatenate(groups, axis=1)

    def _raw_feature(self, name: str) -> np.ndarray:
        if name in ("motion", "occlusion"):
            if self.motion is None:
                raise SignalError(f"{self.video_id}: feature {name!r} needs the track energies")
            energy = self.motion.motion if name == "motion" else self.motion.occlusion
            m = np.zeros(self.num_steps)
            m[: min(self.num_steps, energy.size)] = energy[: self.num_steps]
            return phase_standardize(np.sqrt(m), self.stride)[:, None]
        if name in ("zq", "zpre"):
            z = self.z_q if name == "zq" else self.z_pre
            tl = step_timeline(z, self.window_index, stride=self.stride, gated=self.gated)
            return tl.values
        column = {"track_speed": "track_speed", "flow": "flow_magnitude"}.get(name)
        if column is None:
            raise SignalError(f"unknown feature {name!r}")
        values = np.where(self.gated, 0.0, self.stats[column])
        return np.interp(self.step_times(), self.centre_sec, values)[:, None]


def build_signals(
    video: Mapping[str, Any],
    windows: Sequence[Mapping[str, Any]],
    codes: Sequence[Mapping],
    *,
    motion: MotionFeatures | None = None,
) -> VideoSignals:
    """Join one video's window rows and code rows by ``window_index`` (both must hold the same
    windows); ``video`` is its row of the ``videos`` table; ``motion`` its per-step track
    energies (``pipeline.segments.motion``), needed by the track features only."""
    vid = video["video_id"]
    win = sorted(windows, key=lambda r: r["window_index"])
    by_index = {int(r["window_index"]): r for r in codes}
    w_idx = [int(r["window_index"]) for r in win]
    if len(set(w_idx)) != len(w_idx) or len(by_index) != len(codes):
        raise SignalError(f"{vid}: duplicate window_index in windows or codes")
    if set(w_idx) != set(by_index):
        missing = sorted(set(w_idx) ^ set(by_index))[:5]
        raise SignalError(f"{vid}: windows and codes disagree on windows, e.g. {missing}")
    crows = [by_index[i] for i in w_idx]
    levels = crows[0]["fsq_levels"] if crows else [2]
    steps = int(crows[0]["tokens_per_window"]) if crows else 1
    dim = len(levels)
    codes_arr = np.array([r["codes"] for r in crows], np.int16).reshape(len(crows), steps)
    z_pre = np.array([r["latent_pre"] for r in crows], np.float32).reshape(len(crows), steps, dim)
    stride = int(win[0]["stride_frames"]) if win else 1
    return VideoSignals(
        video_id=vid,
        fps=float(video["fps"]),
        target_fps=float(video["target_fps"]),
        stride=stride,
        frame_count=int(video["frame_count"]),
        window_index=np.asarray(w_idx, np.int64),
        start_sec=np.array([r["start_sec"] for r in win], np.float64),
        end_sec=np.array([r["end_sec"] for r in win], np.float64),
        gated=np.array([r["gated"] for r in win], bool),
        codes=codes_arr,
        z_q=codes_to_latents(codes_arr, levels).reshape(len(crows), steps, dim),
        z_pre=z_pre,
        stats={
            c: np.array([r[c] for r in win], np.float64)
            for c in ("track_speed", "flow_magnitude", "pixel_diff")
        },
        motion=motion,
    )
