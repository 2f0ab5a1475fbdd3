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

Three uses of that distance, all in the descriptor's own units (image coordinates, ratios):

1. a gate per video: repeated-cycle work when the **median** distance over all the video's fine
   change points is below ``gate`` (most cuts then separate look-alike motion);
2. in such a video, every change point whose distance is below ``merge`` is dropped;
3. a second pass in such a video (``second_pass``): the merge judged every cut by 1 s on each
   side, which mixes in the next activity where one is short. With the merged pieces known,
   each dropped cut is judged again by the descriptors of the two pieces it would separate
   (bounded by the kept neighbours, each at most ``context`` steps): put back at or above
   ``restore``; then the kept cut whose pieces look most alike is dropped while that distance
   is below ``drop``.

A video whose median is at or above ``gate`` keeps every change point.

Chosen on development videos only (``laps synth`` presets, 8 x 60 s each unless said; boundary
F1 at 1 s; ``docs/experiments/issue12/spatial_merge.py`` on cached stores): the median was
0.26-0.90 on ``cyclic`` (seeds 6000-6007) and 1.23-1.93 on ``bench`` (1000-1007), ``bench-cam``
(6200-6207), ``twohand`` (6100-6107) and the demo's ``test`` videos (4 x 40 s); ``gate`` = 1.05
is their geometric middle (a margin of x1.17 to the nearest non-cyclic video). ``merge`` = 1.25:
cyclic 0.390 -> 0.818, count +283 % -> +1 % (1.0: 0.801, +32 %); the other presets are gated off,
so unchanged. Sensitive to the descriptor's weights (``scale_weight`` 0.3 or 1.0, or the axis
x1.5, closed the gate's margin) and to ``context`` (0.8 s: no margin; 1.2 s: x1.21).
The second pass (``docs/experiments/issue12/second_pass.py``, cyclic dev): context 2.5 s,
``restore`` 1.15, ``drop`` 1.0 took F1 at 1 s 0.818 -> 0.868 (at 0.5 s 0.679 -> 0.724), count
+1 % -> +10 %; F1 was 0.84-0.88 over restore 0.95-1.3 and context 2.2-2.8 s, the count
falling from +27 % to +1 % as restore rises (restore 1.1: 0.879, +14 %; 1.2: 0.849, +7 %);
1.15 keeps the count near +10 %. ``drop`` 0.8-1.1 changed F1 by at most 0.01; without the drop
step 0.837, +19 %. Chosen on all eight dev videos; in six random splits of them into halves,
the setting best on one half beat the merge alone on the other (+0.01 to +0.06 at 1 s).
"""

from __future__ import annotations

import bisect
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
    return piece_distance(spatial, cut - context, cut, cut + context, scale_weight=scale_weight)


def piece_distance(
    spatial: np.ndarray, a: int, cut: int, b: int, *, scale_weight: float = 0.5
) -> float:
    """Distance between the descriptors of steps ``[a, cut)`` and ``[cut, b)``; inf where one
    side has no motion."""
    x = describe(spatial, a, cut)
    y = describe(spatial, cut, b)
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


@dataclass(frozen=True)
class SecondPass:
    """What ``second_pass`` did to the merge's result."""

    kept: list[int]  # ruptures ends (last == n)
    restored: list[int]  # fine change points the merge had dropped, put back
    dropped: list[int]  # change points the merge had kept, dropped


def second_pass(
    fine: list[int],
    kept: list[int],
    spatial: np.ndarray,
    *,
    context: int,
    restore: float,
    drop: float,
    scale_weight: float = 0.5,
) -> SecondPass:
    """Re-examine the merge's decisions with the pieces it left as context (module doc).

    ``fine``: noise_gain's ruptures ends; ``kept``: what ``merge_repeats`` kept of them (both
    last == n). Each fine change point the merge dropped is compared by the descriptors of the
    two pieces it would separate (each bounded by the neighbouring kept change points, and at
    most ``context`` steps long); it is put back where that distance is at least ``restore``.
    Then, repeatedly, the kept change point of the smallest such distance is dropped while that
    distance is below ``drop``. The result is a subset of ``fine``, ordered, ending at n."""
    if context < 1:
        raise ValueError(f"context must be >= 1 step, got {context}")
    n = int(fine[-1])
    if int(kept[-1]) != n:
        raise ValueError(f"kept must end at n={n}, got {kept[-1]}")
    s = check_spatial(spatial, n)
    first = [int(b) for b in kept[:-1]]
    first_set = set(first)
    if not first_set <= set(fine[:-1]):
        raise ValueError("kept must be a subset of fine")
    bounds = [0, *first, n]

    def dist(a: int, c: int, b: int) -> float:
        a, b = max(a, c - context), min(b, c + context)
        return piece_distance(s, a, c, b, scale_weight=scale_weight)

    back = []
    for c in (int(b) for b in fine[:-1]):
        if c in first_set:
            continue
        i = bisect.bisect_left(bounds, c)  # bounds[i - 1] < c < bounds[i]
        if not dist(bounds[i - 1], c, bounds[i]) < restore:
            back.append(c)
    cuts = sorted(first_set | set(back))

    def around(j: int) -> float:
        a = cuts[j - 1] if j > 0 else 0
        b = cuts[j + 1] if j + 1 < len(cuts) else n
        return dist(a, cuts[j], b)

    d = [around(j) for j in range(len(cuts))]
    while cuts:
        j = int(np.argmin(d))
        if not d[j] < drop:
            break
        cuts.pop(j)
        d.pop(j)
        for k in (j - 1, j):  # the two neighbours' pieces changed
            if 0 <= k < len(cuts):
                d[k] = around(k)
    final = set(cuts)
    return SecondPass(
        [*cuts, n],
        restored=sorted(final - first_set),
        dropped=sorted(first_set - final),
    )
