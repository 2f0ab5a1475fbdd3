"""Repeated-motion merge: drop the change points inside a run of one repeated motion.

The ``noise_gain`` rule cuts every cycle of a repeated motion (wiping, polishing, hammering) into
a segment of its own. Those cuts have something the boundaries between assembly primitives do
not: the motion on both sides looks the same *where and how the hand moves*. Per step the
moving points (speed above their noise floor, belts down-weighted; ``pipeline.segments.motion``)
give a spatial descriptor ``SPATIAL_COLUMNS``: their activity-weighted centroid (x, y in the
frame's [-1, 1] coordinates) and the second moments of their velocity. Over ``context`` steps
on each side of a change point these sum to

- the centroid (where the work is),
- the velocity axis: ``((vxx - vyy) / tr, 2 vxy / tr)``, orientation x anisotropy (a back and
  forth stroke and its reverse have the same axis),
- ``log tr``, the mean squared speed (weighted ``scale_weight``),

and the distance between the two sides is the Euclidean norm of the three differences.

Two uses of that distance, both in the descriptor's own units (image coordinates, ratios):

1. a gate per video: repeated-cycle work when the **median** distance over all the video's fine
   change points is below ``gate`` (most cuts then separate look-alike motion);
2. in such a video, every change point whose distance is below ``merge`` is dropped.

A video whose median is at or above ``gate`` keeps every change point.

Chosen on development videos only (``laps synth`` presets, 8 x 60 s each unless said; boundary
F1 at 1 s; ``docs/experiments/issue12/spatial_merge.py`` on cached stores): the median was
0.26-0.90 on ``cyclic`` (seeds 6000-6007) and 1.23-1.93 on ``bench`` (1000-1007), ``bench-cam``
(6200-6207), ``twohand`` (6100-6107) and the demo's ``test`` videos (4 x 40 s); ``gate`` = 1.05
is their geometric middle (a margin of x1.17 to the nearest non-cyclic video). ``merge`` = 1.25:
cyclic 0.390 -> 0.818, count +283 % -> +1 % (1.0: 0.801, +32 %); the other presets are gated off,
so unchanged. Sensitive to the descriptor's weights (``scale_weight`` 0.3 or 1.0, or the axis
x1.5, closed the gate's margin) and to ``context`` (0.8 s: no margin; 1.2 s: x1.21).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# per-step spatial descriptor columns (pipeline.segments.motion.MotionFeatures.spatial)
SPATIAL_COLUMNS: tuple[str, ...] = ("weight", "cx", "cy", "vxx", "vyy", "vxy")


@dataclass(frozen=True)
class RepeatMerge:
    """What the merge did to one video's change points (``merge_repeats``)."""

    kept: list[int]  # ruptures ends (last == n) after the merge
    distances: np.ndarray  # (K,) context distance of each input change point (inf: no motion)
    median: float  # median of ``distances`` (inf when there is none)
    fired: bool  # the gate opened: repeated-cycle work


def check_spatial(spatial: np.ndarray, n: int) -> np.ndarray:
    """(n', 6) float array -> (n, 6): cut or zero-padded (zero weight) to ``n`` steps."""
    s = np.asarray(spatial, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != len(SPATIAL_COLUMNS):
        raise ValueError(f"spatial must be (n, {len(SPATIAL_COLUMNS)}), got {s.shape}")
    out = np.zeros((n, s.shape[1]))
    m = min(n, s.shape[0])
    out[:m] = np.nan_to_num(s[:m], nan=0.0, posinf=0.0, neginf=0.0)
    out[:, 0] = np.clip(out[:, 0], 0.0, None)
    return out


def describe(spatial: np.ndarray, a: int, b: int) -> np.ndarray | None:
    """Descriptor (cx, cy, axis_c, axis_s, log tr) of steps ``[a, b)``; None if nothing moves."""
    s = spatial[max(0, a) : max(0, b)]
    w = s[:, 0]
    total = float(w.sum())
    if total <= 0:
        return None
    cx, cy, vxx, vyy, vxy = (w @ s[:, 1:]) / total
    tr = vxx + vyy
    if tr <= 0:
        return None
    return np.array([cx, cy, (vxx - vyy) / tr, 2.0 * vxy / tr, np.log(tr)])


def context_distance(
    spatial: np.ndarray, cut: int, context: int, *, scale_weight: float = 0.5
) -> float:
    """Distance between the ``context`` steps before and after step ``cut``; inf where one
    side has no motion (a pause is never a repeat)."""
    x = describe(spatial, cut - context, cut)
    y = describe(spatial, cut, cut + context)
    if x is None or y is None:
        return float("inf")
    loc = float(np.hypot(*(x[:2] - y[:2])))
    axis = float(np.hypot(*(x[2:4] - y[2:4])))
    scale = scale_weight * abs(float(x[4] - y[4]))
    return float(np.sqrt(loc * loc + axis * axis + scale * scale))


def merge_repeats(
    bkps: list[int],
    spatial: np.ndarray,
    *,
    context: int,
    gate: float,
    merge: float,
    scale_weight: float = 0.5,
) -> RepeatMerge:
    """Drop the change points of ``bkps`` (ruptures ends, last == n) that cut one repeated
    motion, if the video is repeated-cycle work (module doc)."""
    if context < 1:
        raise ValueError(f"context must be >= 1 step, got {context}")
    n = int(bkps[-1])
    s = check_spatial(spatial, n)
    inner = [int(b) for b in bkps[:-1]]
    d = np.array(
        [context_distance(s, b, context, scale_weight=scale_weight) for b in inner], dtype=float
    )
    median = float(np.median(d)) if d.size else float("inf")
    if not median < gate:
        return RepeatMerge([*inner, n], d, median, False)
    kept = [b for b, x in zip(inner, d, strict=True) if not x < merge]
    return RepeatMerge([*kept, n], d, median, True)
