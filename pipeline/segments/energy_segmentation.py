"""Label-free energy segmentation of one station: calibrate thresholds, then hysteresis.

``calibrated_hysteresis`` is the one code path shared by the method's LAE-hysteresis variant
(``laps segment``) and the energy baselines of ``laps eval`` (flow magnitude, pixel difference,
track speed), so every variant is smoothed, calibrated and segmented the same way:

1. **Calibration** (``pipeline.segments.calibration.calibrate_station``): per video, pseudo-labels
   active/idle from a speed-like signal (``speeds``; the energy itself when not given) by Otsu or
   a GMM, then the ``thr_on`` maximising F1 of ``[EMA(energy) > thr]`` against them; the station's
   ``thr_on`` is the median over its videos. No ground truth is read anywhere.
2. **Hysteresis** (``pipeline.segments.segmenters.HysteresisSegmenter``) with ``params`` (EMA alpha,
   off ratio, debounce, cooldown, min length, the explicit ``max_len_sec`` cap); only its
   ``thr_on`` is replaced by the calibrated one. The segmenter smooths with the same EMA as the
   calibration (same ``alpha``).
3. **Idle filling**: the active segments plus ``"idle"`` fillers give a contiguous segmentation
   of ``[0, duration_sec]`` per video.

Times are those of ``EnergySeries``: window centres in seconds of the source video; a segment
starts at the centre of its first window and ends at the centre of the first window after it
(or at the video's duration). One station per call; the caller groups videos by station.
Deterministic (numpy only; the GMM has a fixed seed).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.errors import EnergySegmentationError
from pipeline.segments.calibration import (
    Calibration,
    CalibrationInput,
    PseudoMethod,
    Transform,
    calibrate_station,
)
from pipeline.segments.energy import EnergySeries, ema
from pipeline.segments.segfile import Segment, SegmentFile, fill_gaps
from pipeline.segments.segmenters import HysteresisParams, HysteresisSegmenter

log = logging.getLogger(__name__)

# Defaults of the method's hysteresis (docs/method.md stage 5). ``thr_on`` is a placeholder that
# calibration always replaces; the reference's 2 s cap is NOT applied by default (it tiles long
# activity and inflates boundary recall); pass ``max_len_sec=2.0`` explicitly to reproduce it.
DEFAULT_PARAMS = HysteresisParams(thr_on=1.0, max_len_sec=None)  # class defaults; thr_on set later


@dataclass(frozen=True)
class VideoEnergyRun:
    """One video: the contiguous ``segments`` ("active"/"idle") and the signals behind them.

    ``times`` (W,) window centres (s), ``energy`` (W,) the raw energy (gated windows 0),
    ``smoothed`` (W,) its causal EMA as the segmenter saw it.
    """

    name: str
    duration_sec: float
    segments: tuple[Segment, ...]
    times: np.ndarray
    energy: np.ndarray
    smoothed: np.ndarray

    @property
    def active(self) -> tuple[Segment, ...]:
        return tuple(s for s in self.segments if s.label != "idle")

    def to_segment_file(
        self, *, video: str, fps: float, meta: Mapping[str, Any] | None = None
    ) -> SegmentFile:
        """The segmentation as a (validated) segment file for ``video``."""
        return SegmentFile(video, fps, self.duration_sec, self.segments, dict(meta or {})).validate(
            self.name
        )


@dataclass(frozen=True)
class EnergyRun:
    """Result of one station: thresholds, how they were derived, per-video segmentations."""

    energy_name: str
    params: HysteresisParams  # as run: thr_on is the calibrated one
    calibration: Calibration
    videos: dict[str, VideoEnergyRun] = field(default_factory=dict)

    @property
    def thr_on(self) -> float:
        return self.params.thr_on

    @property
    def thr_off(self) -> float:
        return self.params.thr_off

    @property
    def segments(self) -> dict[str, list[Segment]]:
        return {k: list(v.segments) for k, v in self.videos.items()}

    def segment_meta(self) -> dict[str, Any]:
        """Provenance for a segment file's ``meta``: ``{"segmenter", "energy", "hysteresis":
        HysteresisParams fields, "calibration": {method, transform, thr_on, thr_off, skipped}}``.
        ``laps eval --baselines`` reads ``hysteresis`` and ``calibration.method/transform``
        back from the predictions to run the baselines with the same settings."""
        c = self.calibration
        return {
            "segmenter": f"{self.energy_name}_hysteresis",
            "energy": self.energy_name,
            "hysteresis": self.params.model_dump(mode="json"),
            "calibration": {
                "method": c.method,
                "transform": c.transform,
                "thr_on": c.thr_on,
                "thr_off": c.thr_off,
                "skipped": list(c.skipped),
            },
        }


def _check_inputs(
    energies: Mapping[str, EnergySeries],
    durations: Mapping[str, float],
    speeds: Mapping[str, np.ndarray] | None,
    gated: Mapping[str, np.ndarray] | None,
) -> None:
    if not energies:
        raise EnergySegmentationError("no videos given")
    problems: list[str] = []
    names = {e.name for e in energies.values()}
    if len(names) > 1:
        problems.append(f"mixed energy variants {sorted(names)} in one call")
    for key, series in energies.items():
        dur = durations.get(key)
        if dur is None or not np.isfinite(dur) or dur <= 0:
            problems.append(f"{key}: duration {dur!r} missing or not positive")
        n = series.values.size
        for what, extra in (("speed", speeds), ("gated", gated)):
            if extra is not None and key in extra and np.shape(extra[key]) != (n,):
                problems.append(f"{key}: {what} shape {np.shape(extra[key])} != ({n},)")
    if problems:
        raise EnergySegmentationError("; ".join(problems))


def calibrated_hysteresis(
    energies: Mapping[str, EnergySeries],
    durations: Mapping[str, float],
    *,
    params: HysteresisParams | None = None,
    calibration_method: PseudoMethod = "otsu",
    transform: Transform = "none",
    speeds: Mapping[str, np.ndarray] | None = None,
    gated: Mapping[str, np.ndarray] | None = None,
) -> EnergyRun:
    """Calibrate one station's thresholds label-free and segment each of its videos.

    energies: per video key (e.g. the file stem) an ``EnergySeries`` (one variant for all).
    durations: per video key its duration in seconds (the segmentation covers ``[0, d]``).
    params: hysteresis settings; ``thr_on`` is ignored (calibrated). None = ``DEFAULT_PARAMS``.
    speeds: per video (W,) speed-like signal for the pseudo-labels (missing = the energy).
    gated: per video (W,) bool gate: energy forced to 0, pseudo-label idle, left out of the fit.
    A video with no windows is all idle and takes no part in calibration. Raises
    ``EnergySegmentationError`` on inconsistent inputs and ``CalibrationError`` when no video
    of the station yields a threshold.
    """
    _check_inputs(energies, durations, speeds, gated)
    base = params or DEFAULT_PARAMS
    keys = sorted(energies)  # deterministic order, independent of the mapping's
    prepared = {
        k: _prepared_energy(energies[k], None if gated is None else gated.get(k)) for k in keys
    }
    inputs = [
        CalibrationInput(
            energy=prepared[k],
            speed=None if speeds is None or k not in speeds else np.asarray(speeds[k], float),
            gated=None if gated is None or k not in gated else np.asarray(gated[k], bool),
            name=k,
        )
        for k in keys
        if prepared[k].size > 0
    ]
    cal = calibrate_station(
        inputs,
        alpha=base.alpha,
        off_ratio=base.off_ratio,
        method=calibration_method,
        transform=transform,
    )
    run_params = base.model_copy(update={"thr_on": cal.thr_on})
    videos = {
        k: _segment_video(k, energies[k].t_sec, prepared[k], float(durations[k]), run_params)
        for k in keys
    }
    name = energies[keys[0]].name
    n_active = sum(len(v.active) for v in videos.values())
    # the thresholds label every segmenter's pieces idle or active; the hysteresis cut itself is
    # the segments only for method "hysteresis" (the segment files say which method cut)
    log.info(
        "%s thresholds calibrated: thr_on=%.4g thr_off=%.4g on %d videos (%d skipped); "
        "hysteresis alone would cut %d active segments",
        name, cal.thr_on, run_params.thr_off, len(videos), len(cal.skipped), n_active,
    )  # fmt: skip
    return EnergyRun(energy_name=name, params=run_params, calibration=cal, videos=videos)


def _prepared_energy(series: EnergySeries, gate: np.ndarray | None) -> np.ndarray:
    values = np.asarray(series.values, dtype=np.float64).copy()
    if gate is not None:
        values[np.asarray(gate, dtype=bool)] = 0.0
    return values


def _segment_video(
    name: str, times: np.ndarray, energy: np.ndarray, duration: float, params: HysteresisParams
) -> VideoEnergyRun:
    t = np.asarray(times, dtype=np.float64)
    if energy.size == 0:
        log.warning("%s: no windows; the whole video is idle", name)
        segs = fill_gaps([], duration_sec=duration)
        return VideoEnergyRun(name, duration, tuple(segs), t, energy, energy.copy())
    seg = HysteresisSegmenter.from_params(params).fit(energy, t, end_sec=duration)
    segs = fill_gaps(seg.predict(), duration_sec=duration)
    smoothed = seg.smoothed_ if seg.smoothed_ is not None else ema(energy, alpha=params.alpha)
    return VideoEnergyRun(name, duration, tuple(segs), t, energy, smoothed)
