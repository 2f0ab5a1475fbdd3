"""Camera motion compensation and per-window motion statistics of tracked points.

Global motion of one step is the per-axis median velocity of the visible points. Its share of all
motion in a window is ``sum_s |median_s| / (sum_s mean_n |v_sn| + steps * eps)``: a motion-weighted
average over steps, so near-static steps (where flow noise makes the ratio meaningless) weigh
little. A camera pan or shake moves every point alike (share near 1); a hand moving over part of
the frame leaves the median near zero (share near 0).
"""

from __future__ import annotations

from typing import Literal

import numpy as np

CameraMode = Literal["auto", "on", "off"]


def step_medians(velocities: np.ndarray, step_visible: np.ndarray) -> np.ndarray:
    """Per-step, per-axis median velocity of visible points.

    velocities: (S, N, 2) float, any units; step_visible: (S, N) bool (point visible at the end of
    the step). Returns (S, 2) float64; zero for steps with no visible point.
    """
    # Invisible entries sort last (+inf); the median is that of the first ``count`` values.
    ordered = np.sort(np.where(step_visible[..., None], velocities, np.inf), axis=1)
    count = step_visible.sum(axis=1)  # (S,)
    lo = np.maximum(count - 1, 0) // 2
    hi = count // 2 - (count == 0)  # == lo for odd counts; -1 (any valid index) when empty
    rows = np.arange(len(count))
    mid = 0.5 * (ordered[rows, lo] + ordered[rows, np.maximum(hi, 0)])  # (S, 2)
    out = np.where(count[:, None] > 0, mid, 0.0).astype(np.float64)
    return out


def global_motion_share(
    velocities: np.ndarray, step_visible: np.ndarray, medians: np.ndarray, eps: float
) -> float:
    """Share of global motion in a window (module docstring); 0 when nothing moves."""
    speed = np.hypot(velocities[..., 0], velocities[..., 1])  # (S, N)
    count = step_visible.sum(axis=1)
    mean_speed = np.where(count > 0, (speed * step_visible).sum(axis=1) / np.maximum(count, 1), 0)
    num = float(np.hypot(medians[:, 0], medians[:, 1]).sum())
    return num / (float(mean_speed.sum()) + eps * len(medians))


def compensate_camera(
    velocities: np.ndarray,
    step_visible: np.ndarray,
    *,
    mode: CameraMode,
    share_threshold: float,
    eps: float,
) -> tuple[np.ndarray, float, bool]:
    """Subtract each step's median velocity from visible points when the camera moves.

    velocities: (S, N, 2) px per step; step_visible: (S, N) bool. ``mode`` ``auto`` compensates
    when the global motion share is >= ``share_threshold``; ``on``/``off`` force it. Invisible
    points keep their (zero) velocity. Returns (velocities (S, N, 2) float64, share, applied).
    """
    if mode not in ("auto", "on", "off"):
        raise ValueError(f"unknown camera compensation mode {mode!r}")
    medians = step_medians(velocities, step_visible)
    share = global_motion_share(velocities, step_visible, medians, eps)
    apply = mode == "on" or (mode == "auto" and share >= share_threshold)
    out = velocities.astype(np.float64)
    if apply:
        out = np.where(step_visible[..., None], out - medians[:, None, :], out)
    return out, share, apply


def mean_visible_speed(velocities: np.ndarray, step_visible: np.ndarray) -> float:
    """Mean |velocity| over steps and visible points ((S, N, 2), (S, N)); 0 if none visible."""
    n = int(step_visible.sum())
    if n == 0:
        return 0.0
    return float((np.hypot(velocities[..., 0], velocities[..., 1]) * step_visible).sum() / n)
