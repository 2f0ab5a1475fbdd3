"""Two hands at once (issue 12 item 1b): the moving points split into two spatial groups, the
two-hands score, and the union of each group's change points where the score says two
independent movers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.errors import SegmenterError
from pipeline.evaluation.metrics import boundary_score
from pipeline.segments.motion import (
    StepTracks,
    grid_x,
    hand_groups,
    motion_features,
    split_1d,
)
from pipeline.segments.segmenters import ChangePointSegmenter
from pipeline.segments.segmenters.hands import union_changepoints

G = 20  # grid side: 400 points, as the tracker's default grid


def _schedule(rng, n: int, mean_len: int = 12, p_on: float = 0.6) -> np.ndarray:
    """(n,) on/off activity of one hand: runs of random length, on (``p_on``) with speed
    0.5-2."""
    out = np.zeros(n)
    pos = 0
    while pos < n:
        length = int(rng.integers(mean_len // 2, 2 * mean_len))
        if rng.random() < p_on:
            out[pos : pos + length] = rng.uniform(0.5, 2.0)
        pos += length
    return out


def _blob(cols: range, rows: range) -> np.ndarray:
    """(N,) bool: the grid points of those columns and rows."""
    x, y = np.arange(G * G) % G, np.arange(G * G) // G
    return np.isin(x, list(cols)) & np.isin(y, list(rows))


def test_union_keeps_each_change_point_once_and_merges_close_ones() -> None:
    assert union_changepoints([30, 10, 12, 50, 98, 50, 1], 100, merge=3) == [10, 30, 50, 100]
    assert union_changepoints([], 40, merge=3) == [40]
    assert union_changepoints([10, 13], 40, merge=3) == [10, 13, 40]  # 3 apart: both kept
    with pytest.raises(ValueError, match="merge"):
        union_changepoints([10], 40, merge=0)


def test_split_1d_finds_the_gap_between_two_groups() -> None:
    x = np.array([-0.9, -0.8, -0.7, 0.6, 0.7, 0.8])
    thr, red = split_1d(x, np.array([1.0, 2.0, 1.0, 1.0, 2.0, 1.0]))
    assert -0.7 < thr < 0.6 and red > 0.95
    thr, red = split_1d(np.linspace(-1, 1, 50), np.ones(50))  # one uniform spread
    assert abs(thr) < 0.05 and 0.7 < red < 0.8
    assert split_1d(x, np.zeros(6)) == (0.0, 0.0)  # nothing moves
    assert split_1d(np.zeros(4), np.ones(4)) == (0.0, 0.0)  # one place: nothing to split
    assert grid_x(4).tolist() == [-0.5, 0.5, -0.5, 0.5]


def test_two_independent_hands_score_high_and_one_arm_low() -> None:
    rng = np.random.default_rng(0)
    n = 600
    left, right = _blob(range(2, 6), range(10, 18)), _blob(range(14, 18), range(10, 18))
    a, b = _schedule(rng, n, p_on=0.85), _schedule(rng, n, p_on=0.85)  # both busy
    active = np.zeros((n, G * G))
    active[:, left] = a[:, None] * rng.uniform(0.5, 1.0, left.sum())
    active[:, right] = b[:, None] * rng.uniform(0.5, 1.0, right.sum())
    lost = np.zeros_like(active)
    lost[:, right] = (b[:, None] > 1.5) * 1.0
    two = hand_groups(active, lost)
    assert two is not None
    # between the two patches (x -0.45 and 0.45); independent schedules: a sampled correlation
    assert -0.45 < two.threshold < 0.45 and two.reduction > 0.85 and abs(two.correlation) < 0.25
    assert two.score >= 0.6  # the default gate
    assert np.allclose(two.motion.sum(axis=1), active.sum(axis=1))
    assert np.allclose(two.motion[:, 0], active[:, left].sum(axis=1))
    assert np.allclose(two.occlusion[:, 1], lost[:, right].sum(axis=1))
    assert (two.occlusion[:, 0] == 0).all()
    # one arm: a hand and the forearm behind it across the frame, moving together
    arm = np.zeros_like(active)
    arm[:, _blob(range(4, 17), range(12, 15))] = a[:, None]
    one = hand_groups(arm, lost)
    assert one is not None and one.correlation > 0.9 and one.score < 0.1
    # two hands that seldom move at once: over the steps where one moves, the other is mostly
    # still (negative), so they are left to the scene's change points (one hand at a time)
    sparse = np.zeros_like(active)
    sa, sb = _schedule(rng, n, p_on=0.2), _schedule(rng, n, p_on=0.2)
    sparse[:, left], sparse[:, right] = sa[:, None], sb[:, None]
    rare = hand_groups(sparse, lost)
    assert rare is not None and rare.correlation < -0.3 and rare.score < 0.6
    # one mover passing from the left to the right: the groups move in turn
    passing = np.zeros_like(active)
    passing[100:150, left] = 1.0
    passing[150:200, right] = 1.0
    turn = hand_groups(passing, lost)
    assert turn is not None and turn.correlation < -0.9 and turn.score < 0.1
    # one patch alone is split inside itself: both parts move together
    only_left = np.zeros_like(active)
    only_left[:, left] = a[:, None]
    alone = hand_groups(only_left, lost)
    assert alone is not None and alone.correlation > 0.99 and alone.score < 0.01
    # nothing moves, or one side of the split never moves: no split to test
    assert hand_groups(np.zeros_like(active), lost) is None
    one_point = np.zeros_like(active)
    one_point[:, 0] = a
    assert hand_groups(one_point, lost) is None


def test_motion_features_carry_the_groups_of_the_video() -> None:
    """The real feature path: per-step velocities of two hands, each busy most of the time at
    one of three places on its side, give a two-hands score above the gate and group
    energies that add up to the video's."""
    rng = np.random.default_rng(1)
    n = 600
    vel = rng.normal(0.0, 2e-4, (n, G * G, 2)).astype(np.float32)
    sign = np.where((np.arange(n) // 3) % 2 == 0, 1.0, -1.0)  # back and forth
    for cols in (range(1, 7), range(13, 19)):
        c0 = cols.start
        places = [
            _blob(range(c0 + 2 * i, c0 + 2 * i + 2), range(8 + 3 * i, 12 + 3 * i)) for i in range(3)
        ]
        pos = 0
        while pos < n:  # runs of 0.6-2.4 s, busy 80 % of the time, at one place each
            length = int(rng.integers(6, 24))
            if rng.random() < 0.8:
                mask = places[int(rng.integers(0, 3))]
                speed = 0.01 * rng.uniform(0.5, 2.0)
                vel[pos : pos + length, mask, 0] += (speed * sign[pos : pos + length])[:, None]
            pos += length
    steps = StepTracks(vel, np.zeros((n, G * G), bool), np.ones(n, bool))
    feats = motion_features(steps)
    assert feats.hands is not None and feats.hands.score >= 0.6
    assert abs(feats.hands.correlation) < 0.3
    assert np.allclose(feats.hands.motion.sum(axis=1), feats.motion, atol=1e-6)
    empty = motion_features(StepTracks(np.zeros((0, 0, 2), np.float32), np.zeros((0, 0), bool),
                                       np.zeros(0, bool)))  # fmt: skip
    assert empty.hands is None


def _two_hand_timeline(seed: int = 0, n: int = 600):
    """Two groups of features with their own change points (0.8-2.5 s pieces) and a scene
    signal that only sees the first: what the summed energy does to the quieter hand."""
    rng = np.random.default_rng(seed)

    def piecewise():
        ends, pos = [], 0
        while pos < n - 25:
            pos += int(rng.integers(8, 25))
            ends.append(min(pos, n))
        ends = [e for e in ends if e < n - 8]
        x = np.empty((n, 2))
        for a, b in zip([0, *ends], [*ends, n], strict=True):
            x[a:b] = rng.normal(0.0, 1.5, 2)
        return x + 0.1 * rng.normal(size=x.shape), ends

    xa, ea = piecewise()
    xb, eb = piecewise()
    return xa, xb, ea, eb, np.arange(n) / 10.0


def test_the_union_of_both_hands_change_points_where_the_score_says_two_hands() -> None:
    kw = {"beta": 4.0, "min_size_sec": 0.5}
    xa, xb, ea, eb, t = _two_hand_timeline()
    # boundaries of either hand; two less than 0.3 s apart are one (the default merge)
    truth = t[union_changepoints(ea + eb, t.size, merge=3)[:-1]]
    scene = ChangePointSegmenter(rule="noise_gain", hands=False, **kw).fit(xa, t)
    both = ChangePointSegmenter(rule="noise_gain", **kw).fit(xa, t, hands=(0.7, [xa, xb]))
    assert boundary_score(truth, scene.change_times(), tol=0.2).recall < 0.65
    assert boundary_score(truth, both.change_times(), tol=0.2).f1 > 0.9
    assert np.diff(both.predict_bkps()).min() >= 3  # merge 0.3 s at 10 Hz
    g = both.granularity()
    assert g["fired"] == "hands" and g["rule"] == "noise_gain"
    assert g["hands"]["fired"] and g["hands"]["score"] == 0.7 and g["hands"]["gate"] == 0.6
    assert g["hands"]["scene_segments"] == len(scene.predict_bkps())
    assert len(g["hands"]["group_segments"]) == 2 and g["hands"]["merge_sec"] == 0.3
    # below the gate, without groups, or switched off: the scene's change points
    low = ChangePointSegmenter(rule="noise_gain", **kw).fit(xa, t, hands=(0.5, [xa, xb]))
    assert low.predict_bkps() == scene.predict_bkps()
    assert low.granularity()["hands"] == {"fired": False, "score": 0.5, "gate": 0.6}
    assert low.granularity()["fired"] == "noise_gain"
    none = ChangePointSegmenter(rule="noise_gain", **kw).fit(xa, t)
    assert none.predict_bkps() == scene.predict_bkps()
    assert none.granularity()["hands"] == {"fired": False, "score": None, "gate": 0.6}
    off = ChangePointSegmenter(rule="noise_gain", hands=False, **kw).fit(
        xa, t, hands=(0.9, [xa, xb])
    )
    assert off.predict_bkps() == scene.predict_bkps() and "hands" not in off.granularity()
    # the gate is a parameter; the other rules never read the groups
    gated = ChangePointSegmenter(rule="noise_gain", hands_gate=0.8, **kw)
    assert gated.fit(xa, t, hands=(0.7, [xa, xb])).predict_bkps() == scene.predict_bkps()
    knee = ChangePointSegmenter(rule="knee", **kw)
    plain_knee = ChangePointSegmenter(rule="knee", **kw).fit(xa, t)
    assert knee.fit(xa, t, hands=(0.9, [xa, xb])).predict_bkps() == plain_knee.predict_bkps()
    with pytest.raises(SegmenterError, match="group"):
        ChangePointSegmenter(rule="noise_gain", **kw).fit(xa, t, hands=(0.9, [xa[:-1], xb]))


def test_repeated_cycle_work_is_not_split_into_hands() -> None:
    """Where the repeat rule merged (one repeated motion), the groups are not read: the score
    is recorded, the repeat rule's pieces kept."""
    from tests.pipeline.segments.segmenters.test_repeat import _cyclic

    kw = {"beta": 4.0, "min_size_sec": 0.7}
    rng = np.random.default_rng(3)
    spatial, cycles, _ = _cyclic(length=120)
    x = np.repeat(rng.normal(0.0, 1.0, (len(cycles), 2)), 12, axis=0)
    x += 0.1 * rng.normal(size=x.shape)
    t = np.arange(x.shape[0]) / 10.0
    plain = ChangePointSegmenter(rule="repeat", hands=False, **kw).fit(x, t, spatial=spatial)
    seg = ChangePointSegmenter(rule="repeat", **kw).fit(
        x, t, spatial=spatial, hands=(0.9, [x, x[::-1].copy()])
    )
    assert seg.predict_bkps() == plain.predict_bkps()
    g = seg.granularity()
    assert g["fired"] == "repeat" and g["hands"] == {"fired": False, "score": 0.9, "gate": 0.6}


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 300),
    cuts=st.lists(st.integers(-5, 305), max_size=60),
    merge=st.integers(1, 10),
)
def test_the_union_is_ordered_spaced_and_drawn_from_the_cuts(n, cuts, merge) -> None:
    out = union_changepoints(cuts, n, merge=merge)
    inner = out[:-1]
    assert out[-1] == n and set(inner) <= set(cuts)
    assert all(merge <= b <= n - merge for b in inner)
    assert all(b - a >= merge for a, b in zip(inner, inner[1:], strict=False))
    # nothing dropped that was far enough from every kept cut and from the ends
    kept = set(inner)
    for c in set(cuts):
        if merge <= c <= n - merge and c not in kept:
            assert any(0 < c - k < merge for k in kept)
