"""Two hands at once: segment each hand's motion on its own and take the union.

When a worker uses both hands at once, a boundary is wherever either hand starts or ends a
primitive (the ``twohand`` ground truth). The whole scene's motion energy sums both hands, so one
hand's transitions hide under the other's motion, and ``noise_gain`` finds about half of them
(50 pieces per 60 s against 89). Two hands are two spatially separate groups of moving points
whose energies rise and fall independently. Per video (``pipeline.segments.motion.hand_groups``)
the moving points are split at the weighted 2-means of their x positions, and

    score = reduction x (1 - |correlation|)

where ``reduction`` is the share of the moving points' x variance the two groups explain
(bimodal: two hands) and ``correlation`` that of the two groups' sqrt motion energies over the
steps where either moves: one arm reaching across the split moves both groups together
(positive), one mover passing from one side to the other moves them in turn (negative; the
block sliding across the test video scores 0.15), two hands at work move them independently
(near 0). Two hands that seldom move at once correlate negatively too (over the steps where one
moves the other is mostly still) and are left to the scene's change points, which then see one
hand at a time. At ``score >= gate`` the
change points are the union of those ``noise_gain`` finds on each group's own features (the
same features, each group's energies), a change point closer than ``merge`` steps to the one
before it dropped. Below the gate the video keeps its change points.

Chosen on development videos only (``laps synth``, 8 x 60 s per preset, the demo's ``test``
videos 4 x 40 s; ``docs/experiments/issue12/twohands.py`` on ``points_cache.py`` caches): the
score was 0.68-0.84 on ``twohand`` (seeds 6100-6107) and 0.19-0.52 on ``bench`` (1000-1007),
``bench-cam`` (6200-6207), ``cyclic`` (6000-6007) and the demo; ``gate`` = 0.6 is near their
geometric middle (x1.15 / x1.13 to the nearest video below / above). The correlation over all
steps without the absolute value gave a similar margin on these (0.63-0.80 against 0.19-0.48)
but scored the sliding block 0.67: still steps make any two movers look independent.
``merge`` = 0.3 s: twohand F1 at 0.5 / 1 s 0.709 / 0.716 -> 0.889 / 0.936, count -43 % ->
-7 %, segment F1 0.520 -> 0.740 (0.5 s: 0.830 / 0.847, -26 %; 0.4 s: -17 %; 0.2 s: +5 %,
segment F1 0.709). The split is one vertical line: two hands one above the other are not seen.
"""

from __future__ import annotations

from collections.abc import Iterable


def union_changepoints(cuts: Iterable[int], n: int, *, merge: int) -> list[int]:
    """Sorted union of change points (sample indices) as ruptures ends (last == ``n``): a cut
    closer than ``merge`` steps to the last one kept, or to either end, is dropped."""
    if merge < 1:
        raise ValueError(f"merge must be >= 1 step, got {merge}")
    kept: list[int] = []
    for b in sorted({int(c) for c in cuts}):
        if b < merge or n - b < merge:
            continue
        if kept and b - kept[-1] < merge:
            continue
        kept.append(b)
    return [*kept, int(n)]
