"""Label-free per-station thresholds for the hysteresis segmenter (docs/method.md stage 6).

Per video:
1. **Pseudo-labels** active/idle from a speed-like energy (raw track speed by default; the
   energy itself when no speed is given): Otsu's threshold on its histogram (``"otsu"``), or the
   two-component Gaussian mixture's decision (``"gmm"``, sklearn, fixed seed). ``transform="log"``
   applies both on ``log(speed + eps)`` (heavy-tailed speeds).
2. **thr_on** = the threshold maximising the F1 of ``[E_smoothed > thr]`` against those
   pseudo-labels, where ``E_smoothed`` is the causal EMA the segmenter itself applies
   (same ``alpha``, same function ``pipeline.segments.energy.ema``). Ties go to the highest
   threshold; the chosen value is the midpoint between the two neighbouring smoothed values.

Per station: the median of the videos' ``thr_on``; ``thr_off = off_ratio * thr_on``. Videos whose
pseudo-labels are degenerate (constant speed, one class only) are skipped and listed with the
reason; no usable video raises ``CalibrationError``. Gated windows count as idle: their energy is 0
and their pseudo-label idle; they are left out of the Otsu / GMM fit (their speed is not
measured). No ground truth is read anywhere here. Deterministic.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from pydantic import Field

from pipeline.config import FrozenConfig
from pipeline.errors import CalibrationError
from pipeline.segments.energy import ema
from pipeline.segments.segmenters.hysteresis import DEFAULTS as HYSTERESIS_DEFAULTS

log = logging.getLogger(__name__)

PseudoMethod = Literal["otsu", "gmm"]
Transform = Literal["none", "log"]


@dataclass(frozen=True)
class CalibrationInput:
    """One video: ``energy`` (W,) the segmenter's energy; ``speed`` (W,) speed-like energy for
    pseudo-labels (None = use ``energy``); ``gated`` (W,) bool; ``name`` for reports."""

    energy: np.ndarray
    speed: np.ndarray | None = None
    gated: np.ndarray | None = None
    name: str = ""


class VideoThreshold(FrozenConfig):
    """Per-video result: thresholds in energy units, pseudo-label statistics."""

    name: str
    thr_on: float
    f1: float = Field(description="F1 of [E_smoothed > thr_on] against the pseudo-labels")
    pseudo_threshold: float = Field(description="Otsu/GMM threshold in speed units")
    active_fraction: float = Field(description="share of windows pseudo-labelled active")


class Calibration(FrozenConfig):
    """Station thresholds and how they were derived."""

    thr_on: float
    thr_off: float
    alpha: float
    off_ratio: float
    method: PseudoMethod
    transform: Transform
    per_video: tuple[VideoThreshold, ...]
    skipped: tuple[str, ...] = Field((), description="'name: reason' of unusable videos")


def otsu_threshold(values: np.ndarray, *, bins: int = 256) -> float:
    """Otsu's threshold of a 1-d sample: the histogram bin edge maximising between-class
    variance. Raises ``CalibrationError`` for a constant or empty sample."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)) or np.ptp(v) <= 0:
        raise CalibrationError(f"Otsu needs a finite, non-constant sample (n={v.size})")
    try:
        hist, edges = np.histogram(v, bins=bins)
    except ValueError as exc:  # a range too narrow for `bins` distinct float edges
        raise CalibrationError(f"Otsu needs a non-constant sample: range {np.ptp(v)!r}") from exc
    p = hist / hist.sum()
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(p)[:-1]
    m0 = np.cumsum(p * centres)[:-1]
    mt = float(np.sum(p * centres))
    w1 = 1.0 - w0
    valid = (w0 > 0) & (w1 > 0)
    between = np.zeros_like(w0)
    between[valid] = (mt * w0[valid] - m0[valid]) ** 2 / (w0[valid] * w1[valid])
    return float(edges[1 + int(np.argmax(between))])


def _transform(v: np.ndarray, transform: Transform) -> tuple[np.ndarray, float]:
    """Identity, or ``log(v + eps)`` with ``eps`` = 1e-3 x the median positive value (so exact
    zeros do not form a far-away mode of their own)."""
    if transform == "none":
        return v, 0.0
    positive = v[v > 0]
    eps = 1e-3 * float(np.median(positive)) if positive.size else 1.0
    return np.log(np.clip(v, 0.0, None) + eps), eps


def pseudo_labels(
    speed: np.ndarray, *, method: PseudoMethod = "otsu", transform: Transform = "none"
) -> tuple[np.ndarray, float]:
    """(W,) bool active pseudo-labels and the threshold in speed units (for GMM: the lowest
    speed labelled active)."""
    v = np.asarray(speed, dtype=np.float64)
    tv, eps = _transform(v, transform)
    if method == "otsu":
        thr = otsu_threshold(tv)
        labels = tv > thr
    elif method == "gmm":
        labels = _gmm_labels(tv)
        thr = float(np.min(tv[labels]))
    else:
        raise CalibrationError(f"unknown pseudo-label method {method!r}")
    back = float(np.exp(thr) - eps) if transform == "log" else float(thr)
    return labels, back


def _gmm_labels(v: np.ndarray) -> np.ndarray:
    """Windows the 2-component GMM (fixed seed) assigns to its higher-mean component."""
    if v.size < 4 or np.ptp(v) <= 0:
        raise CalibrationError(f"GMM needs at least 4 non-constant values (n={v.size})")
    from sklearn.mixture import GaussianMixture  # slow import (~1 s): only when asked for

    gmm = GaussianMixture(n_components=2, random_state=0).fit(v[:, None])
    labels = gmm.predict(v[:, None]) == int(np.argmax(gmm.means_[:, 0]))
    if labels.all() or not labels.any():
        raise CalibrationError(f"GMM put all {v.size} windows in one component")
    return labels


def best_f1_threshold(smoothed: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Threshold maximising F1 of ``[smoothed > thr]`` against bool ``labels``; (thr, f1)."""
    s = np.asarray(smoothed, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    n_pos = int(y.sum())
    if n_pos == 0 or n_pos == y.size:
        raise CalibrationError(f"pseudo-labels are one class ({n_pos} of {y.size} active)")
    order = np.argsort(-s, kind="stable")
    s_sorted, y_sorted = s[order], y[order]
    tp = np.cumsum(y_sorted)
    k = np.arange(1, s.size + 1)
    f1 = 2 * tp / (k + n_pos)
    # top-k separable by a threshold; keeping every window is no threshold at all (it would sit
    # below the smallest energy, and mark the whole video active)
    cut_ok = np.append(s_sorted[:-1] > s_sorted[1:], False)
    if not cut_ok.any():
        raise CalibrationError(f"no threshold separates the {s.size} smoothed values (all equal)")
    f1 = np.where(cut_ok, f1, -1.0)
    best = int(np.argmax(f1))
    return float((s_sorted[best] + s_sorted[best + 1]) / 2), float(f1[best])


def calibrate_video(
    item: CalibrationInput,
    *,
    alpha: float = HYSTERESIS_DEFAULTS["alpha"],
    method: PseudoMethod = "otsu",
    transform: Transform = "none",
) -> VideoThreshold:
    """Per-video thr_on (see module doc). Raises ``CalibrationError`` when degenerate."""
    energy = np.asarray(item.energy, dtype=np.float64).copy()
    speed = energy.copy() if item.speed is None else np.asarray(item.speed, float).copy()
    if speed.shape != energy.shape or energy.ndim != 1:
        raise CalibrationError(
            f"{item.name}: energy {energy.shape} and speed {speed.shape} must be equal 1-d shapes"
        )
    gate = np.zeros(energy.size, bool) if item.gated is None else np.asarray(item.gated, bool)
    energy[gate] = 0.0
    labels = np.zeros(energy.size, dtype=bool)  # gated windows: idle, and not in the fit
    labels[~gate], pseudo_thr = pseudo_labels(speed[~gate], method=method, transform=transform)
    thr, f1 = best_f1_threshold(ema(energy, alpha=alpha), labels)
    return VideoThreshold(
        name=item.name,
        thr_on=thr,
        f1=f1,
        pseudo_threshold=pseudo_thr,
        active_fraction=float(labels.mean()),
    )


def calibrate_station(
    videos: Sequence[CalibrationInput],
    *,
    alpha: float = HYSTERESIS_DEFAULTS["alpha"],
    off_ratio: float = HYSTERESIS_DEFAULTS["off_ratio"],
    method: PseudoMethod = "otsu",
    transform: Transform = "none",
) -> Calibration:
    """Median of the per-video thresholds over one station's videos (see module doc)."""
    per_video: list[VideoThreshold] = []
    skipped: list[str] = []
    for i, item in enumerate(videos):
        name = item.name or f"video{i}"
        try:
            per_video.append(calibrate_video(item, alpha=alpha, method=method, transform=transform))
        except CalibrationError as exc:
            log.warning("calibration: skipping %s: %s", name, exc)
            skipped.append(f"{name}: {exc}")
    if not per_video:
        raise CalibrationError(f"no usable video among {len(videos)}: {skipped}")
    thr_on = float(np.median([v.thr_on for v in per_video]))
    if thr_on <= 0:
        raise CalibrationError(f"median thr_on={thr_on} is not positive")
    return Calibration(
        thr_on=thr_on,
        thr_off=off_ratio * thr_on,
        alpha=alpha,
        off_ratio=off_ratio,
        method=method,
        transform=transform,
        per_video=tuple(per_video),
        skipped=tuple(skipped),
    )
