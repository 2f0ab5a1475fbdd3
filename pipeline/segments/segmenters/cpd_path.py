"""Cost-vs-number-of-change-points path and the label-free rules that pick a point on it.

The path is the lower convex hull of ``(K, C(K))`` (K change points, C the optimal total
within-segment cost), traced by running PELT (ruptures ``KernelCPD``, C implementation) over a
log-spaced grid of penalties: a penalty ``beta`` returns the hull point minimising
``C(K) + beta * K`` (an approximation of CROPS, Haynes et al. 2017).

Rules (all scale-free, computed on the video's own path, so they adapt per video):

- ``"knee"``: Kneedle on the normalised hull: the point farthest below the chord from
  ``(0, C(0))`` to the densest point of the path.
- ``"noise_gain"``: the noise floor of one change point is read off the dense end of the path
  (median marginal gain among hull points with segments of at most ``tail_len`` samples on
  average; there the gains come from fitting noise, including its short-range correlation);
  the chosen point is the one PELT returns for the penalty ``beta * noise_gain``. The dense
  end is always noise-dominated when ``tail_len`` is below the shortest true segment.
- ``"consensus"``: the point nearest (in log count) to the geometric mean of the
  ``noise_gain`` and ``knee`` counts: each rule fails on different videos (``knee`` under-splits
  when strong idle/active changes dwarf primitive changes; ``noise_gain`` over-splits long,
  correlated segments), their compromise had the best worst case on synthetic timelines. The
  knee is ignored when the change point creating it gains less than ``knee_min`` noise gains
  (pure noise has a knee too).
- ``"fixed"``: a given number of change points (oracle experiments only).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PathPoint:
    """One hull point: ``bkps`` (ruptures ends, last == n), ``n_bkps`` = len(bkps) - 1."""

    penalty: float
    cost: float
    bkps: tuple[int, ...]

    @property
    def n_bkps(self) -> int:
        return len(self.bkps) - 1


def l2_cost(x: np.ndarray, bkps: tuple[int, ...] | list[int]) -> float:
    """Sum over segments of squared deviations from the segment mean. x: (n, d)."""
    c1 = np.concatenate([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    c2 = np.concatenate([[0.0], np.cumsum(np.sum(x * x, axis=1))])
    ends = np.asarray(bkps, dtype=np.int64)
    starts = np.concatenate([[0], ends[:-1]])
    sums = c1[ends] - c1[starts]
    total = (c2[ends] - c2[starts]) - np.sum(sums * sums, axis=1) / (ends - starts)
    return float(np.sum(total))


class CostPath:
    """Penalised optimal segmentations of one signal (ruptures ``KernelCPD`` + PELT), cached.

    x: (n, d) signal; ``min_size`` samples per segment at least.
    """

    def __init__(self, x: np.ndarray, *, kernel: str, min_size: int) -> None:
        self.x = x
        self.n = int(x.shape[0])
        self.kernel = kernel
        self.min_size = int(min_size)
        import ruptures as rpt  # imported here: it costs ~0.7 s (scipy.stats) at import

        self.algo = rpt.KernelCPD(kernel=kernel, min_size=self.min_size).fit(x)
        self.total = self._cost((self.n,))
        self._cache: dict[float, PathPoint] = {}

    def _cost(self, bkps: tuple[int, ...]) -> float:
        if self.kernel == "linear":
            return l2_cost(self.x, bkps)
        return float(self.algo.cost.sum_of_costs(list(bkps)))

    @property
    def penalty_range(self) -> tuple[float, float]:
        """(high, low): above ``high`` no change point pays off; ``low`` = 5 % of the cost per
        sample, where PELT packs segments of about ``min_size``."""
        hi = max(self.total, 1e-12)
        return hi, hi / self.n * 0.05

    def solve(self, penalty: float) -> PathPoint:
        """Optimal segmentation for one penalty (``C + penalty * K`` minimal)."""
        key = float(penalty)
        if key not in self._cache:
            bkps = tuple(int(b) for b in self.algo.predict(pen=key))
            self._cache[key] = PathPoint(key, self._cost(bkps), bkps)
        return self._cache[key]

    def trace(self, penalties: np.ndarray) -> list[PathPoint]:
        """Lower hull of the points the given penalties reach, plus the no-change point."""
        by_k: dict[int, PathPoint] = {0: PathPoint(self.penalty_range[0], self.total, (self.n,))}
        for pen in penalties:
            p = self.solve(pen)
            if p.n_bkps not in by_k or p.cost < by_k[p.n_bkps].cost:
                by_k[p.n_bkps] = p
        return _lower_hull([by_k[k] for k in sorted(by_k)])

    def full(self, *, per_decade: int = 6) -> list[PathPoint]:
        """Hull over penalties ``low * 10**(i / per_decade)``, upwards until no change point
        pays off (PELT is slow only there, so the sweep stops at the first such penalty)."""
        hi, lo = self.penalty_range
        pens: list[float] = []
        pen = lo
        while pen < hi:
            pens.append(pen)
            if self.solve(pen).n_bkps == 0:
                break
            pen *= 10 ** (1 / per_decade)
        return self.trace(np.array(pens))

    def between(self, a: PathPoint, b: PathPoint, target: float, *, max_iter: int = 8) -> PathPoint:
        """Point nearest (log count) to ``target`` change points between hull neighbours
        ``a`` (fewer) and ``b`` (more), refining the hull between them (local CROPS: solve at
        the penalty where ``a`` and ``b`` tie; a new point lies on the hull between them)."""
        for _ in range(max_iter):
            if b.n_bkps - a.n_bkps <= 1:
                break
            m = self.solve((a.cost - b.cost) / (b.n_bkps - a.n_bkps))
            if m.n_bkps in (a.n_bkps, b.n_bkps):
                break
            a, b = (m, b) if m.n_bkps <= target else (a, m)
        return min((a, b), key=lambda q: abs(np.log(max(q.n_bkps, 1) / target)))

    def dense_end(self, *, tail_len: float, per_decade: int = 6) -> list[PathPoint]:
        """Hull points from the low end of the penalty range upwards, until the mean segment
        is longer than ``2 * tail_len`` samples (cheap: PELT prunes well at low penalties)."""
        hi, lo = self.penalty_range
        pens: list[float] = []
        pen = lo
        while pen < hi:
            pens.append(pen)
            if self.n / (self.solve(pen).n_bkps + 1) > 2 * tail_len:
                break
            pen *= 10 ** (1 / per_decade)
        return [p for p in self.trace(np.array(pens)) if p.n_bkps > 0]


def _lower_hull(points: list[PathPoint]) -> list[PathPoint]:
    """Keep the points on the lower convex hull of (n_bkps, cost), sorted by n_bkps."""
    hull: list[PathPoint] = []
    for p in points:
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], p) <= 0:
            hull.pop()
        if hull and p.cost >= hull[-1].cost:
            continue
        hull.append(p)
    return hull


def _cross(a: PathPoint, b: PathPoint, c: PathPoint) -> float:
    return (b.n_bkps - a.n_bkps) * (c.cost - a.cost) - (b.cost - a.cost) * (c.n_bkps - a.n_bkps)


def marginal_gains(points: list[PathPoint]) -> np.ndarray:
    """Cost decrease per added change point between consecutive hull points (decreasing)."""
    k = np.array([p.n_bkps for p in points], dtype=float)
    c = np.array([p.cost for p in points])
    return -np.diff(c) / np.diff(k)


def choose_knee(points: list[PathPoint]) -> PathPoint:
    """Kneedle: the hull point farthest below the chord of the normalised path."""
    if len(points) < 3:
        return points[0]
    k = np.array([p.n_bkps for p in points], dtype=float)
    c = np.array([p.cost for p in points])
    x = k / k[-1]
    span = c[0] - c[-1]
    y = (c - c[-1]) / span if span > 0 else np.zeros_like(c)
    return points[int(np.argmax((1.0 - x) - y))]


def noise_gain(points: list[PathPoint], *, n: int, tail_len: float) -> float:
    """Median marginal gain among hull steps whose denser end has a mean segment length of at
    most ``tail_len`` samples (the densest quarter of the steps if there is none)."""
    gains = marginal_gains(points)
    k_next = np.array([p.n_bkps for p in points[1:]], dtype=float)
    dense = gains[n / (k_next + 1) <= tail_len]
    if dense.size == 0:
        dense = gains[-max(1, gains.size // 4) :]
    return float(np.median(dense)) if dense.size else 0.0


def choose_noise_gain(path: CostPath, *, beta: float, tail_len: float) -> tuple[PathPoint, float]:
    """Point for the penalty ``beta * noise_gain``; returns it and the noise gain."""
    g = noise_gain(path.dense_end(tail_len=tail_len), n=path.n, tail_len=tail_len)
    if g <= 0:
        return PathPoint(path.penalty_range[0], path.total, (path.n,)), 0.0
    return path.solve(beta * g), g


def choose_consensus(
    path: CostPath, *, beta: float, tail_len: float, per_decade: int, knee_min: float
) -> tuple[PathPoint, float]:
    """Point nearest (in log count) to the geometric mean of the ``noise_gain`` and ``knee``
    counts; the knee only takes part when the change point that creates it gains at least
    ``knee_min`` noise gains (a knee always exists, even in pure noise). Returns the point and
    the noise gain."""
    ng_point, gain = choose_noise_gain(path, beta=beta, tail_len=tail_len)
    hull = path.full(per_decade=per_decade)
    knee = choose_knee(hull)
    i = next(j for j, p in enumerate(hull) if p.n_bkps == knee.n_bkps)
    strength = marginal_gains(hull)[i - 1] if i > 0 else 0.0
    if knee.n_bkps == 0 or strength < knee_min * gain:
        log.debug(
            "knee at %d too weak (%.3g < %g x %.3g): noise_gain only",
            knee.n_bkps,
            strength,
            knee_min,
            gain,
        )
        return ng_point, gain
    target = float(np.sqrt(max(ng_point.n_bkps, 1) * knee.n_bkps))
    pts = sorted({p.n_bkps: p for p in [*hull, ng_point]}.values(), key=lambda p: p.n_bkps)
    lower = [p for p in pts if p.n_bkps <= target][-1]
    upper = next((p for p in pts if p.n_bkps >= target), lower)
    return path.between(lower, upper, target), gain
