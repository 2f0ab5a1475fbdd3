"""Kernel change-point segmenter with a label-free, per-video number of change points.

Input: a multivariate per-step sequence (n, d), e.g. the latent timeline of
``pipeline.segments.energy.step_timeline``, optionally concatenated with raw track features, and its
times. Each feature is robustly standardised (median / 1.4826 MAD; constant features dropped) so no
feature dominates by its unit. Change points minimise the within-segment cost of a kernel
(``linear`` = piecewise-constant mean, L2; ``rbf`` = distribution changes, O(n^2) per solve, only
for short or subsampled sequences) with segments of at least ``min_size_sec``.

The number of change points is set per video by a rule on the video's own cost path
(``pipeline.segments.segmenters.cpd_path``), so boundary density adapts per video with no threshold
in feature units:

- ``"noise_gain"``: penalty = ``beta`` x the cost decrease one change point buys when fitting
  noise, read off the densest end of the path (mean segment <= ``tail_sec``). ~0.06 s. On
  noise-free features that gain is 0; the ``knee`` rule is used then.
- ``"knee"``: Kneedle on the cost path.
- ``"consensus"`` (default): geometric mean of the two counts, the knee only when it stands
  above the noise (``knee_min`` noise gains).
- ``"adaptive"``: ``noise_gain``, unless its count is more than ``switch_ratio`` (2.4) times the
  knee's, then the knee. ``noise_gain`` sets a density more than a count: on 60 s videos it
  gave 40-56 pieces whatever the work (truth 49-55 on the ``bench`` preset of short assembly
  primitives, 8-16 on the ``cyclic`` preset of 3-15 s activities made of repeated cycles, whose
  fluctuations it cuts). The knee follows the coarse structure (10-19 pieces on ``cyclic``,
  23-33 on ``bench``, where it under-splits). Their ratio told the two kinds of work apart on
  the development videos (1.6-2.3 on ``bench``, 2.5-4.1 on ``cyclic``, seeds 1000-1007 and
  6000-6007); the rule keeps the noise_gain pieces below it and the knee's above. Not robust
  yet, so not the default: on 40 s videos of the ``test`` preset (dense primitives, like
  ``bench``) the ratio was 1.9-2.8 and the switch wrongly fired on 3 of 4 (F1 at 1 s 0.945
  with noise_gain, 0.649 adaptive).
- ``"repeat"``: ``noise_gain``, then, in a video of repeated-cycle work, the change points
  whose two sides show the same spatial motion pattern are dropped
  (``pipeline.segments.segmenters.repeat``; needs the per-step ``spatial`` descriptors of the
  moving points passed to ``fit``, else it is ``noise_gain``). On the development videos it
  left every ``bench``, ``bench-cam``, ``twohand`` and demo (``test``) video as noise_gain cut it
  and lifted ``cyclic`` from 0.390 to 0.818 at 1 s (count +283 % -> +1 %); its second pass
  (``repeat_second``, on by default: merged cuts between unlike pieces put back, kept cuts
  between alike ones dropped) to 0.868 (count +10 %).
- ``"fixed"``: a given count (oracle experiments only).

With ``hands`` (on by default, for ``noise_gain`` and ``repeat`` when the repeat gate stays
closed): in a video whose moving points form two independent spatial groups (two hands at
once, ``pipeline.segments.segmenters.hands``; needs the per-group features passed to ``fit``),
the change points are the union of those ``noise_gain`` finds on each group. On the
development videos it opened on every ``twohand`` video and on no other (twohand 0.716 ->
0.936 at 1 s, count -43 % -> -7 %).

Measured on synthetic step timelines (11 settings x 4 seeds: 8-16 dims, AR(1)-correlated noise,
segments of 0.8-2.5 s up to 5-20 s, oscillating primitives, an idle/active hierarchy; 10 Hz,
boundary F1 at 1 s, mean / worst setting): consensus 0.91 / 0.77, noise_gain 0.88 / 0.61
(over-splits sparse videos ~2x), knee 0.93 / 0.70 (under-splits when idle/active changes dwarf
primitive changes). Known weakness of all three: strongly autocorrelated noise with no real
change (AR(1) rho 0.7) is over-split. Time for 6000 x 16 (10 min at 10 Hz) on one core:
noise_gain 0.05-0.7 s, consensus and knee 0.6-1.3 s.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Literal

import numpy as np
from pydantic import Field, model_validator

from pipeline.config import FrozenConfig
from pipeline.errors import NotFittedError, SegmenterError
from pipeline.segments.segfile import Segment
from pipeline.segments.segmenters.base import (
    bkps_to_spans,
    check_signal,
    check_times,
    default_end_sec,
    span_to_segment,
)
from pipeline.segments.segmenters.cpd_path import (
    CostPath,
    PathPoint,
    choose_consensus,
    choose_knee,
    choose_noise_gain,
)
from pipeline.segments.segmenters.hands import union_changepoints
from pipeline.segments.segmenters.repeat import SecondPass, merge_repeats, second_pass

log = logging.getLogger(__name__)

Rule = Literal["consensus", "noise_gain", "knee", "adaptive", "repeat", "fixed"]
MAX_RBF_SAMPLES = 3000  # rbf gram matrices beyond this are hundreds of MB and seconds per solve


class ChangePointParams(FrozenConfig):
    """Parameters of ``ChangePointSegmenter`` (seconds are converted with the median spacing
    of the fitted times)."""

    rule: Rule = "consensus"
    min_size_sec: float = Field(0.5, gt=0, description="shortest segment, seconds")
    beta: float = Field(12.0, gt=0, description="noise_gain: penalty / noise gain")
    tail_sec: float = Field(
        1.0,
        gt=0,
        description="noise_gain: mean segment length that is "
        "surely denser than real boundaries, seconds",
    )
    n_bkps: int | None = Field(None, ge=0, description="fixed: number of change points")
    kernel: Literal["linear", "rbf"] = "linear"
    per_decade: int = Field(6, ge=2, description="knee/consensus: penalties per decade")
    knee_min: float = Field(
        8.0, ge=0, description="consensus: least gain of the knee's change point, in noise gains"
    )
    standardize: bool = True
    switch_ratio: float = Field(
        2.4,
        gt=1,
        description="adaptive: take the knee's count when the noise_gain count is more than "
        "this many times it (the fine pieces are the texture of long activities)",
    )
    repeat_context_sec: float = Field(
        1.0, gt=0, description="repeat: motion compared on each side of a change point, seconds"
    )
    repeat_gate: float = Field(
        1.05,
        gt=0,
        description="repeat: repeated-cycle work when the median context distance is below this",
    )
    repeat_merge: float = Field(
        1.25, gt=0, description="repeat: in such work, drop change points closer than this"
    )
    repeat_scale_weight: float = Field(
        0.5, ge=0, description="repeat: weight of the log mean squared speed in the distance"
    )
    repeat_second: bool = Field(
        True,
        description="repeat: re-examine the merge with the merged pieces as context (put back "
        "cuts between unlike pieces, drop kept cuts between alike ones)",
    )
    repeat_second_context_sec: float = Field(
        2.5, gt=0, description="repeat second pass: longest piece compared on each side, seconds"
    )
    repeat_restore: float = Field(
        1.15, gt=0, description="repeat second pass: put a merged cut back at this distance"
    )
    repeat_drop: float = Field(
        1.0, gt=0, description="repeat second pass: drop a kept cut below this distance"
    )
    hands: bool = Field(
        True,
        description="noise_gain/repeat: segment each of two independent groups of moving "
        "points (two hands) on its own and take the union",
    )
    hands_gate: float = Field(
        0.6,
        gt=0,
        le=1,
        description="hands: two hands when the split's reduction x (1 - |correlation|) is at "
        "least this",
    )
    hands_merge_sec: float = Field(
        0.3, gt=0, description="hands: union change points closer than this are one, seconds"
    )

    @model_validator(mode="after")
    def _fixed_needs_count(self) -> ChangePointParams:
        if self.rule == "fixed" and self.n_bkps is None:
            raise ValueError("rule='fixed' needs n_bkps")
        return self


def robust_standardize(x: np.ndarray) -> np.ndarray:
    """(n, d) -> (n, d') per-feature (x - median) / (1.4826 MAD), std if MAD is 0; features
    with zero spread are dropped (d' <= d)."""
    med = np.median(x, axis=0)
    scale = 1.4826 * np.median(np.abs(x - med), axis=0)
    std = x.std(axis=0)
    scale = np.where(scale > 1e-12 * np.maximum(1.0, np.abs(med)), scale, std)
    keep = scale > 1e-12
    return (x[:, keep] - med[keep]) / scale[keep]


class ChangePointSegmenter:
    """``fit(signal (n, d), times (n,))`` then ``predict()`` -> contiguous segments.

    After ``fit``: ``bkps_`` (ruptures ends, last == n), ``noise_gain_``, ``penalty_`` (0 when
    not penalised), ``min_size_`` samples.
    """

    def __init__(
        self,
        *,
        rule: Rule = "consensus",
        min_size_sec: float = 0.5,
        beta: float = 12.0,
        tail_sec: float = 1.0,
        n_bkps: int | None = None,
        kernel: Literal["linear", "rbf"] = "linear",
        per_decade: int = 6,
        knee_min: float = 8.0,
        standardize: bool = True,
        switch_ratio: float = 2.4,
        repeat_context_sec: float = 1.0,
        repeat_gate: float = 1.05,
        repeat_merge: float = 1.25,
        repeat_scale_weight: float = 0.5,
        repeat_second: bool = True,
        repeat_second_context_sec: float = 2.5,
        repeat_restore: float = 1.15,
        repeat_drop: float = 1.0,
        hands: bool = True,
        hands_gate: float = 0.6,
        hands_merge_sec: float = 0.3,
    ) -> None:
        self.params = ChangePointParams(
            rule=rule,
            min_size_sec=min_size_sec,
            beta=beta,
            tail_sec=tail_sec,
            n_bkps=n_bkps,
            kernel=kernel,
            per_decade=per_decade,
            knee_min=knee_min,
            standardize=standardize,
            switch_ratio=switch_ratio,
            repeat_context_sec=repeat_context_sec,
            repeat_gate=repeat_gate,
            repeat_merge=repeat_merge,
            repeat_scale_weight=repeat_scale_weight,
            repeat_second=repeat_second,
            repeat_second_context_sec=repeat_second_context_sec,
            repeat_restore=repeat_restore,
            repeat_drop=repeat_drop,
            hands=hands,
            hands_gate=hands_gate,
            hands_merge_sec=hands_merge_sec,
        )
        self.bkps_: list[int] | None = None
        # adaptive: which count rule set the result, and the two candidate segment counts
        self.rule_fired_ = ""
        self.fine_segments_: int | None = None
        self.coarse_segments_: int | None = None
        self.merged_times_: list[float] = []  # adaptive/repeat: fine change points not kept, s
        self.repeat_median_: float | None = None  # repeat: median context distance
        self.second_: SecondPass | None = None  # repeat: what the second pass changed
        self.hands_: dict[str, object] | None = None  # hands: what the two-hands test did
        self.times_: np.ndarray | None = None
        self.end_sec_ = 0.0
        self.noise_gain_ = 0.0
        self.penalty_ = 0.0
        self.min_size_ = 0

    @classmethod
    def from_params(cls, params: ChangePointParams) -> ChangePointSegmenter:
        return cls(**params.model_dump())

    def fit(
        self,
        signal: np.ndarray,
        times: np.ndarray,
        *,
        end_sec: float | None = None,
        spatial: np.ndarray | None = None,
        hands: tuple[float, Sequence[np.ndarray]] | None = None,
    ) -> ChangePointSegmenter:
        """Find the change points of ``signal`` (n, d) sampled at ``times`` (n,) seconds;
        ``spatial`` (n, 6): the per-step descriptors the ``repeat`` rule reads
        (``pipeline.segments.segmenters.repeat.SPATIAL_COLUMNS``), ignored by the others;
        ``hands``: the two-hands score of the video and each group's features ((n, d_g) each,
        standardised like ``signal``), read by ``noise_gain`` and ``repeat`` when
        ``params.hands`` (``pipeline.segments.segmenters.hands``)."""
        x = check_signal(signal)
        n = x.shape[0]
        self.times_ = check_times(times, n)
        self.end_sec_ = default_end_sec(self.times_) if end_sec is None else float(end_sec)
        dt = float(np.median(np.diff(self.times_))) if n > 1 else 1.0
        p = self.params
        self.rule_fired_, self.fine_segments_, self.coarse_segments_ = "", None, None
        self.merged_times_ = []
        self.repeat_median_ = None
        self.second_ = None
        self.hands_ = None
        self.min_size_ = max(2, int(round(p.min_size_sec / dt)))
        if p.standardize:
            x = robust_standardize(x)
        if p.kernel == "rbf" and n > MAX_RBF_SAMPLES:
            raise SegmenterError(
                f"kernel='rbf' costs O(n^2); n={n} > {MAX_RBF_SAMPLES}: "
                "subsample the sequence or use kernel='linear'"
            )
        if x.shape[1] == 0 or n < 2 * self.min_size_ or p.n_bkps == 0:
            self.bkps_ = [n]
            return self
        path = CostPath(x, kernel=p.kernel, min_size=self.min_size_)
        point = self._choose(path, tail_len=p.tail_sec / dt)
        self.bkps_ = list(point.bkps)
        if p.rule == "repeat":
            self._repeat(
                spatial,
                context=max(1, int(round(p.repeat_context_sec / dt))),
                second=max(1, int(round(p.repeat_second_context_sec / dt))),
            )
        if p.hands and p.rule in ("noise_gain", "repeat"):
            merge = max(1, int(round(p.hands_merge_sec / dt)))
            self._hands(hands, tail_len=p.tail_sec / dt, merge=merge)
        log.debug(
            "change points: %d (rule=%s, penalty=%.4g, noise gain=%.4g, n=%d)",
            len(self.bkps_) - 1,
            p.rule,
            self.penalty_,
            self.noise_gain_,
            n,
        )
        return self

    def _choose(self, path: CostPath, *, tail_len: float) -> PathPoint:
        p = self.params
        if p.rule in ("noise_gain", "repeat"):
            point, self.noise_gain_ = choose_noise_gain(path, beta=p.beta, tail_len=tail_len)
            if self.noise_gain_ > 0:
                self.penalty_ = p.beta * self.noise_gain_
                return point
            # noise-free features (e.g. an energy that is exactly 0 outside clean motion): no
            # gain to measure noise by, so the rule would find nothing; the knee needs no noise
            log.info("noise gain 0 (features without noise): knee rule instead")
            point = choose_knee(path.full(per_decade=p.per_decade))
            self.penalty_ = point.penalty
            return point
        if p.rule == "consensus":
            point, self.noise_gain_ = choose_consensus(
                path,
                beta=p.beta,
                tail_len=tail_len,
                per_decade=p.per_decade,
                knee_min=p.knee_min,
            )
            self.penalty_ = point.penalty
            return point
        if p.rule == "knee":
            point = choose_knee(path.full(per_decade=p.per_decade))
            self.penalty_ = point.penalty
            return point
        if p.rule == "adaptive":
            return self._adaptive(path, tail_len=tail_len)
        if p.n_bkps is None:
            raise SegmenterError("rule='fixed' needs n_bkps")
        max_bkps = path.n // path.min_size - 1
        if p.n_bkps > max_bkps:
            raise SegmenterError(
                f"n_bkps={p.n_bkps} impossible with n={path.n}, "
                f"min_size={path.min_size} (at most {max_bkps})"
            )
        bkps = tuple(int(b) for b in path.algo.predict(n_bkps=p.n_bkps))
        return PathPoint(0.0, 0.0, bkps)

    def _adaptive(self, path: CostPath, *, tail_len: float) -> PathPoint:
        """noise_gain, unless its count is more than ``switch_ratio`` times the knee's: then
        the fine pieces cut one long activity's fluctuations (repeated cycles), and the knee's
        count is kept (module doc)."""
        p = self.params
        fine, self.noise_gain_ = choose_noise_gain(path, beta=p.beta, tail_len=tail_len)
        coarse = choose_knee(path.full(per_decade=p.per_decade))
        self.fine_segments_, self.coarse_segments_ = fine.n_bkps + 1, coarse.n_bkps + 1
        if self.noise_gain_ <= 0 or self.fine_segments_ > p.switch_ratio * self.coarse_segments_:
            self.rule_fired_, self.penalty_ = "knee", coarse.penalty
            kept = set(coarse.bkps)
            merged = [b for b in fine.bkps[:-1] if b not in kept]
            self.merged_times_ = [] if self.times_ is None else self.times_[merged].tolist()
            return coarse
        self.rule_fired_, self.penalty_ = "noise_gain", p.beta * self.noise_gain_
        return fine

    def _repeat(self, spatial: np.ndarray | None, *, context: int, second: int) -> None:
        """Drop the fine change points inside repeated motion (``merge_repeats``), then the
        second pass where the merge fired (``second_pass``)."""
        p = self.params
        fine = list(self.bkps_ or [])
        self.fine_segments_ = len(fine)
        if spatial is None:
            log.warning("rule 'repeat' without spatial descriptors: noise_gain's pieces kept")
            self.rule_fired_ = "noise_gain"
            return
        res = merge_repeats(
            fine,
            spatial,
            context=context,
            gate=p.repeat_gate,
            merge=p.repeat_merge,
            scale_weight=p.repeat_scale_weight,
        )
        self.repeat_median_ = res.median
        self.rule_fired_ = "repeat" if res.fired else "noise_gain"
        result = res.kept
        if res.fired and p.repeat_second:
            self.second_ = second_pass(
                fine,
                res.kept,
                spatial,
                context=second,
                restore=p.repeat_restore,
                drop=p.repeat_drop,
                scale_weight=p.repeat_scale_weight,
            )
            result = self.second_.kept
        kept = set(result)
        merged = [b for b in fine[:-1] if b not in kept]
        self.merged_times_ = [] if self.times_ is None else self.times_[merged].tolist()
        self.bkps_ = result

    def _hands(
        self, hands: tuple[float, Sequence[np.ndarray]] | None, *, tail_len: float, merge: int
    ) -> None:
        """Two hands: the union of each group's noise_gain change points (module doc); not
        where the repeat rule merged (repeated-cycle work); the score is recorded either way."""
        p = self.params
        if hands is None:
            self.hands_ = {"fired": False, "score": None, "gate": p.hands_gate}
            return
        score, groups = hands
        score = float(score)
        self.hands_ = {"fired": False, "score": round(score, 4), "gate": p.hands_gate}
        n = len(self.times_) if self.times_ is not None else 0
        if self.rule_fired_ == "repeat" or not score >= p.hands_gate or not groups:
            return  # repeated-cycle work (one motion), or not two independent movers
        before = list(self.bkps_ or [n])
        cuts: list[int] = []
        counts = []
        for g in groups:
            x = np.asarray(g, dtype=np.float64)
            if x.ndim != 2 or x.shape[0] != n:
                raise SegmenterError(f"hands: a group's features must be ({n}, d), got {x.shape}")
            if x.shape[1] == 0 or n < 2 * self.min_size_:
                counts.append(1)
                continue
            path = CostPath(x, kernel=p.kernel, min_size=self.min_size_)
            point, gain = choose_noise_gain(path, beta=p.beta, tail_len=tail_len)
            if gain <= 0:
                point = choose_knee(path.full(per_decade=p.per_decade))
            cuts += list(point.bkps[:-1])
            counts.append(point.n_bkps + 1)
        self.bkps_ = union_changepoints(cuts, n, merge=merge)
        self.rule_fired_ = "hands"
        self.hands_ |= {
            "fired": True,
            "group_segments": counts,
            "scene_segments": len(before),
            "merge_sec": p.hands_merge_sec,
        }

    def granularity(self) -> dict[str, object]:
        """What set the number of change points of the last fit (JSON-able): the rule, and for
        ``adaptive`` both candidate counts and how many fine pieces were merged away."""
        p = self.params
        out: dict[str, object] = {"rule": p.rule, "fired": self.rule_fired_ or p.rule}
        if p.rule == "repeat" and self.fine_segments_ is not None:
            median = self.repeat_median_
            out |= {
                "fine_segments": self.fine_segments_,
                "repeat_median": None
                if median is None or not np.isfinite(median)
                else round(float(median), 4),
                "repeat_gate": p.repeat_gate,
                "repeat_merge": p.repeat_merge,
                "merged": len(self.merged_times_),
                "merged_at_sec": [round(float(x), 3) for x in self.merged_times_],
            }
            if p.repeat_second:
                out["second_pass"] = self._second_record()
        if self.hands_ is not None:
            out["hands"] = dict(self.hands_)
        if self.fine_segments_ is not None and self.coarse_segments_ is not None:
            kept = len(self.bkps_ or [])
            out |= {
                "fine_segments": self.fine_segments_,
                "coarse_segments": self.coarse_segments_,
                "switch_ratio": p.switch_ratio,
                "merged": self.fine_segments_ - kept,
                "merged_at_sec": [round(float(x), 3) for x in self.merged_times_],
            }
        return out

    def _second_record(self) -> dict[str, object]:
        """The repeat rule's second pass in ``granularity()``: its parameters, whether it ran
        (only where the gate opened) and the change points it put back and dropped."""
        p = self.params
        sp, times = self.second_, self.times_
        out: dict[str, object] = {
            "ran": sp is not None,
            "context_sec": p.repeat_second_context_sec,
            "restore": p.repeat_restore,
            "drop": p.repeat_drop,
        }
        if sp is not None and times is not None:
            out |= {
                "restored_at_sec": [round(float(times[b]), 3) for b in sp.restored],
                "dropped_at_sec": [round(float(times[b]), 3) for b in sp.dropped],
            }
        return out

    def _fitted(self) -> tuple[list[int], np.ndarray]:
        if self.bkps_ is None or self.times_ is None:
            raise NotFittedError("ChangePointSegmenter.predict called before fit")
        return self.bkps_, self.times_

    def predict_bkps(self) -> list[int]:
        """ruptures-style segment ends in sample-index space; the last one is n."""
        return list(self._fitted()[0])

    def predict(self) -> list[Segment]:
        """Contiguous segments in seconds (``[t[i], t[j])``, last ends at ``end_sec``)."""
        bkps, times = self._fitted()
        spans = bkps_to_spans(bkps, times.size)
        return [span_to_segment(s, times, self.end_sec_, None) for s in spans]

    def change_times(self) -> np.ndarray:
        """Interior change-point times (s): ``t[k]`` for each breakpoint ``k < n``."""
        bkps, times = self._fitted()
        return times[np.asarray(bkps[:-1], dtype=np.int64)]
