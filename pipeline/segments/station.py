"""Segment one station's videos: label-free calibration, then the configured segmenter.

Calibration and the hysteresis variant go through
``pipeline.segments.energy_segmentation.calibrated_hysteresis`` (the code path the energy baselines
use): pseudo-labels from the windows' raw ``track_speed`` (Otsu or GMM), ``thr_on`` = best F1
of the EMA-smoothed energy the segmenter itself sees, median over the station's videos. No
ground truth anywhere. The result of each video is mapped to exact source frames: a boundary at
``t`` becomes frame ``round(t * fps)`` and its time ``frame / fps``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.errors import CalibrationError
from pipeline.segments.config import SegmentationConfig
from pipeline.segments.energy import EnergySeries, ema
from pipeline.segments.energy_segmentation import EnergyRun, calibrated_hysteresis
from pipeline.segments.motion import phase_standardize
from pipeline.segments.segfile import IDLE_LABEL, Segment
from pipeline.segments.segmenters import (
    ACTIVE_LABEL,
    UNCALIBRATED_LABEL,
    ChangePointSegmenter,
    CombinedSegmenter,
    HysteresisParams,
    HysteresisSegmenter,
)
from pipeline.segments.segmenters.changepoint import robust_standardize
from pipeline.segments.signals import VideoSignals

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FrameSegment:
    """``[start_frame, end_frame)`` of the source video with its label."""

    start_frame: int
    end_frame: int
    label: str

    def seconds(self, fps: float) -> Segment:
        return Segment(self.start_frame / fps, self.end_frame / fps, self.label)


@dataclass(frozen=True)
class VideoResult:
    """One video: contiguous frame segments and the per-window signals behind them."""

    key: str
    segments: tuple[FrameSegment, ...]
    energy: np.ndarray  # (W,) the gate's energy (gated windows 0)
    smoothed: np.ndarray  # (W,) its causal EMA
    # what set the number of change points (ChangePointSegmenter.granularity); None: no
    # change points were fitted (hysteresis, or no windows)
    granularity: dict[str, Any] | None = None


@dataclass(frozen=True)
class StationResult:
    """Thresholds (``inf`` when calibration failed: everything idle) and per-video results."""

    params: HysteresisParams
    calibration: dict[str, Any]
    videos: dict[str, VideoResult] = field(default_factory=dict)

    @property
    def thr_on(self) -> float:
        return self.params.thr_on

    @property
    def calibrated(self) -> bool:
        return math.isfinite(self.params.thr_on)

    @property
    def thr_off(self) -> float:
        return self.params.thr_off

    def recorded_params(self) -> HysteresisParams:
        """The settings a segment file records: ``params``, with the placeholder threshold
        of an uncalibrated station instead of ``inf`` (JSON has no infinity; ``calibration``
        says why)."""
        return self.params if self.calibrated else self.params.model_copy(update={"thr_on": 1.0})


def to_frames(segments: Sequence[Segment], *, fps: float, frame_count: int) -> list[FrameSegment]:
    """Contiguous frame segments of ``[0, frame_count)``: boundaries rounded to frames (a
    boundary at ``t`` is frame ``round(t * fps)``), pieces left empty by the rounding dropped,
    an idle filler up to ``frame_count`` if the segments end before it."""
    out: list[FrameSegment] = []
    cursor = 0
    for seg in segments:
        end = min(frame_count, max(0, int(round(seg.end_sec * fps))))
        if end <= cursor:
            continue
        out.append(FrameSegment(cursor, end, seg.label or ACTIVE_LABEL))
        cursor = end
    if cursor < frame_count:
        if out and out[-1].label == IDLE_LABEL:
            out[-1] = FrameSegment(out[-1].start_frame, frame_count, IDLE_LABEL)
        else:
            out.append(FrameSegment(cursor, frame_count, IDLE_LABEL))
    return out


def segment_station(videos: Mapping[str, VideoSignals], cfg: SegmentationConfig) -> StationResult:
    """Calibrate on every video of the station, then segment each (keys sorted)."""
    keys = sorted(videos)
    energies = {k: videos[k].energy(cfg.energy) for k in keys}
    usable = [k for k in keys if energies[k].size > 0]
    params = cfg.hysteresis_params()
    run: EnergyRun | None = None
    error = "no video with windows"
    if usable:
        try:
            run = calibrated_hysteresis(
                {k: _series(videos[k], energies[k], cfg.energy) for k in usable},
                {k: videos[k].duration_sec for k in usable},
                params=params,
                calibration_method=cfg.calibration,
                transform=cfg.calibration_transform,
                speeds={k: videos[k].stats["track_speed"] for k in usable},
                gated={k: videos[k].gated for k in usable},
            )
        except CalibrationError as exc:
            error = str(exc)
            log.warning(
                "calibration of %s failed (%s): %s", cfg.energy, exc,
                "every video is idle" if cfg.method == "hysteresis"
                else "change points only, every piece uncalibrated",
            )  # fmt: skip
    if run is None:
        params = params.model_copy(update={"thr_on": math.inf})
        calibration = {
            "method": cfg.calibration,
            "transform": cfg.calibration_transform,
            "thr_on": None,
            "thr_off": None,
            "error": error,
        }
    else:
        params = run.params
        calibration = run.segment_meta()["calibration"]
    result = StationResult(params=params, calibration=calibration)
    for k in keys:
        result.videos[k] = _segment_video(k, videos[k], energies[k], params, cfg, run)
    return result


def _series(v: VideoSignals, energy: np.ndarray, name: str) -> EnergySeries:
    return EnergySeries.from_windows(
        energy,
        window_index=v.window_index,
        start_sec=v.start_sec,
        end_sec=v.end_sec,
        gated=v.gated,
        name=name,
    )


def _segment_video(
    key: str,
    v: VideoSignals,
    energy: np.ndarray,
    params: HysteresisParams,
    cfg: SegmentationConfig,
    run: EnergyRun | None,
) -> VideoResult:
    smoothed = ema(energy, alpha=params.alpha) if energy.size else energy
    if energy.size == 0 or (cfg.method == "hysteresis" and run is None):
        segs = [FrameSegment(0, v.frame_count, IDLE_LABEL)]
        return VideoResult(key, tuple(segs), energy, smoothed)
    granularity = None
    if cfg.method == "hysteresis" and run is not None:
        seconds = list(run.videos[key].segments)
    else:
        seconds, granularity = _changepoint_segments(v, energy, smoothed, params, cfg)
    segs = to_frames(seconds, fps=v.fps, frame_count=v.frame_count)
    log.debug("%s: %d segments (%s, %s)", key, len(segs), cfg.method, granularity)
    return VideoResult(key, tuple(segs), energy, smoothed, granularity)


def _changepoint_segments(
    v: VideoSignals,
    energy: np.ndarray,
    smoothed: np.ndarray,
    params: HysteresisParams,
    cfg: SegmentationConfig,
) -> tuple[list[Segment], dict[str, Any]]:
    """Combined or change-point-only segments in seconds, and what set their number. Without
    a calibrated threshold (``thr_on`` infinite) there is no gate: change points only, every
    piece ``uncalibrated``."""
    features = v.step_features(cfg.features, cfg.weights())
    cp = _changepoint_segmenter(cfg)
    end = v.duration_sec
    calibrated = math.isfinite(params.thr_on)
    if cfg.method == "combined" and calibrated:
        gate = HysteresisSegmenter.from_params(params)
        seg = CombinedSegmenter(gate=gate, changepoints=cp, edge_sec=cfg.edge_sec)
        pieces = seg.fit(energy, v.centre_sec, features, v.step_times(), end_sec=end).predict()
        return pieces, cp.granularity()
    spatial = v.motion.spatial if v.motion is not None else None
    hands = _hand_features(v, cfg) if cp.params.hands else None
    pieces = cp.fit(features, v.step_times(), end_sec=end, spatial=spatial, hands=hands).predict()
    if not calibrated:
        labelled = [Segment(p.start_sec, p.end_sec, UNCALIBRATED_LABEL) for p in pieces]
    else:
        labelled = [_label_piece(p, v.centre_sec, smoothed, params.thr_off) for p in pieces]
    return labelled, cp.granularity()


def _hand_features(
    v: VideoSignals, cfg: SegmentationConfig
) -> tuple[float, list[np.ndarray]] | None:
    """The two-hands score of the video and, per group of moving points, its track features
    built as ``VideoSignals.step_features`` builds the video's (sqrt, phase-standardised,
    robustly standardised, weighted); None without track energies or without track features."""
    hands = v.motion.hands if v.motion is not None else None
    names = [(f, w) for f, w in zip(cfg.features, cfg.weights(), strict=True) if w > 0]
    names = [(f, w) for f, w in names if f in ("motion", "occlusion")]
    if hands is None or not names:
        return None
    groups = []
    for g in range(2):
        cols = []
        for name, weight in names:
            energy = (hands.motion if name == "motion" else hands.occlusion)[:, g]
            m = np.zeros(v.num_steps)
            m[: min(v.num_steps, energy.size)] = energy[: v.num_steps]
            x = robust_standardize(phase_standardize(np.sqrt(m), v.stride)[:, None])
            if x.shape[1]:
                cols.append(x * weight)
        groups.append(np.concatenate(cols, axis=1) if cols else np.zeros((v.num_steps, 0)))
    return hands.score, groups


def _changepoint_segmenter(cfg: SegmentationConfig) -> ChangePointSegmenter:
    """The configured change-point segmenter (features are standardised already)."""
    params = cfg.changepoint.model_copy(update={"standardize": False})
    return ChangePointSegmenter.from_params(params)


def _label_piece(piece: Segment, centres: np.ndarray, smoothed: np.ndarray, thr: float) -> Segment:
    """Idle when the mean smoothed energy of the windows centred in the piece (the nearest
    window if none) stays below ``thr_off``."""
    inside = (centres >= piece.start_sec) & (centres < piece.end_sec)
    if not inside.any():
        inside = np.zeros(centres.size, bool)
        inside[int(np.argmin(np.abs(centres - (piece.start_sec + piece.end_sec) / 2)))] = True
    label = ACTIVE_LABEL if float(smoothed[inside].mean()) >= thr else IDLE_LABEL
    return Segment(piece.start_sec, piece.end_sec, label)


def impossible_options(
    videos: Sequence[Mapping[str, Any]], cfg: SegmentationConfig, *, stride: int, window_frames: int
) -> list[str]:
    """What in ``cfg`` cannot work for these videos (rows of the videos table), found before
    any tracking: a fixed change-point count (``changepoint.rule='fixed'``) more than a video's
    per-step sequence can hold at ``min_size_sec``. One line per video; empty when all is well.

    The sequence is the one the segmenter is fitted on: one sample per covered step,
    ``(num_windows - 1) * stride + (window_frames - 1)`` of them, at the sampled frame times."""
    p = cfg.changepoint
    if cfg.method == "hysteresis" or p.rule != "fixed" or not p.n_bkps:
        return []
    out = []
    for v in videos:
        if int(v["num_windows"]) == 0:
            continue
        n = (int(v["num_windows"]) - 1) * stride + window_frames - 1
        step = max(1.0, float(v["fps"]) / float(v["target_fps"]))
        times = np.floor(np.arange(n) * step + 0.5) / float(v["fps"])
        dt = float(np.median(np.diff(times))) if n > 1 else 1.0
        min_size = max(2, int(round(p.min_size_sec / dt)))
        if n < 2 * min_size:
            continue  # too short for any change point: one segment, as the segmenter does
        most = n // min_size - 1
        if p.n_bkps > most:
            out.append(
                f"segmentation.changepoint.n_bkps={p.n_bkps} is impossible for "
                f"{v['file_name']} ({float(v['duration_sec']):.1f} s holds at most {most} change "
                f"points {p.min_size_sec:g} s apart)"
            )
    return out
