"""Repeated-motion merge (issue 12 item 2): change points inside one repeated motion are
dropped in repeated-cycle work, and nowhere else."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.evaluation.metrics import boundary_score
from pipeline.segments.motion import spatial_descriptors
from pipeline.segments.segmenters import ChangePointSegmenter
from pipeline.segments.segmenters.repeat import (
    check_spatial,
    context_distance,
    describe,
    merge_repeats,
    piece_distance,
    second_pass,
)


def _motion(rng, n: int, where: tuple[float, float], axis: float, speed: float) -> np.ndarray:
    """(n, 6) steps of one motion: moving points around ``where``, velocity along ``axis``
    (radians) with a little isotropic jitter, mean squared speed ``speed``."""
    out = np.zeros((n, 6))
    out[:, 0] = rng.uniform(5.0, 10.0, n)
    out[:, 1:3] = np.asarray(where) + rng.normal(0.0, 0.02, (n, 2))
    c, s = np.cos(axis), np.sin(axis)
    along, across = 0.9 * speed, 0.1 * speed
    out[:, 3] = along * c * c + across * s * s
    out[:, 4] = along * s * s + across * c * c
    out[:, 5] = (along - across) * c * s
    return out


ACTIVITIES = [((-0.5, 0.0), 0.0, 4.0), ((0.4, 0.3), np.pi / 2, 1.0), ((0.0, -0.6), 0.8, 9.0)]


def _cyclic(seed: int = 0, length: int = 120, cycle: int = 12):
    """Three long activities of one repeated motion each, with a change point every cycle
    (what noise_gain does to such work); returns spatial, fine bkps, the true boundaries."""
    rng = np.random.default_rng(seed)
    spatial = np.vstack([_motion(rng, length, *a) for a in ACTIVITIES])
    n = spatial.shape[0]
    fine = [*range(cycle, n, cycle), n]
    return spatial, fine, [length, 2 * length]


def test_cuts_inside_a_repeated_motion_are_dropped_and_the_activity_boundaries_kept() -> None:
    spatial, fine, truth = _cyclic()
    res = merge_repeats(fine, spatial, context=10, gate=1.05, merge=1.25)
    assert res.fired and res.median < 0.2
    assert res.kept == [*truth, spatial.shape[0]]
    assert res.distances.shape == (len(fine) - 1,)
    assert (res.distances[np.isin(fine[:-1], truth)] > 1.25).all()


def test_distinct_primitives_keep_every_change_point() -> None:
    """Work where each piece moves somewhere else (assembly primitives): the median distance
    is high, the gate stays closed even though a few neighbours look alike."""
    rng = np.random.default_rng(1)
    pieces, bkps = [], []
    for i in range(30):
        where = tuple(rng.uniform(-0.8, 0.8, 2))
        pieces.append(_motion(rng, 11, where, float(rng.uniform(0, np.pi)), rng.uniform(0.5, 9)))
        bkps.append(11 * (i + 1))
    spatial = np.vstack(pieces)
    # two neighbours in the same place: alike, but not repeated-cycle work
    spatial[22:33] = _motion(rng, 11, (0.1, 0.1), 0.0, 2.0)
    spatial[33:44] = _motion(rng, 11, (0.1, 0.1), 0.0, 2.0)
    res = merge_repeats(bkps, spatial, context=10, gate=1.05, merge=1.25)
    assert not res.fired and res.median >= 1.05
    assert res.kept == bkps
    assert res.distances[2] < 0.3  # the look-alike pair, kept all the same


def test_a_pause_is_never_a_repeat() -> None:
    spatial, _, _ = _cyclic()
    spatial[100:120, 0] = 0.0  # nothing moves before step 120
    assert context_distance(spatial, 120, 10) == np.inf
    assert describe(spatial, 100, 120) is None
    res = merge_repeats([60, 120, 240, 360], spatial, context=10, gate=10.0, merge=10.0)
    assert res.kept == [120, 360]  # inside activities merged, the pause's edge kept


def test_the_gate_and_the_merge_threshold_decide() -> None:
    spatial, fine, truth = _cyclic()
    closed = merge_repeats(fine, spatial, context=10, gate=0.001, merge=1.25)
    assert not closed.fired and closed.kept == fine
    everything = merge_repeats(fine, spatial, context=10, gate=1.05, merge=100.0)
    assert everything.kept == [spatial.shape[0]]
    with pytest.raises(ValueError, match="context"):
        merge_repeats(fine, spatial, context=0, gate=1.0, merge=1.0)
    assert merge_repeats([50], spatial[:50], context=5, gate=1.0, merge=1.0).kept == [50]


def test_spatial_is_checked_and_fitted_to_the_step_count() -> None:
    with pytest.raises(ValueError, match=r"\(n, 6\)"):
        check_spatial(np.zeros((5, 3)), 5)
    s = np.ones((4, 6))
    s[1, 2] = np.nan
    s[2, 0] = -1.0
    out = check_spatial(s, 6)
    assert out.shape == (6, 6) and (out[4:] == 0).all()
    assert out[1, 2] == 0.0 and out[2, 0] == 0.0
    assert check_spatial(np.ones((9, 6)), 6).shape == (6, 6)


def test_spatial_descriptors_of_the_moving_points() -> None:
    """A 4 x 4 grid: one point moves along x at column 3, row 0; another moves along y at
    column 0, row 2 with half the activity; a still step gives zero weight."""
    g = 4
    active = np.zeros((3, g * g))
    residual = np.zeros((3, g * g, 2))
    active[0, 3] = 1.0  # row 0, column 3
    residual[0, 3] = (2.0, 0.0)
    active[1, 3], active[1, 8] = 2.0, 1.0  # and row 2, column 0
    residual[1, 3], residual[1, 8] = (2.0, 0.0), (0.0, 3.0)
    out = spatial_descriptors(active, residual)
    assert out.shape == (3, 6)
    cx = (np.arange(g) + 0.5) / g * 2 - 1
    np.testing.assert_allclose(out[0], [1.0, cx[3], cx[0], 4.0, 0.0, 0.0])
    np.testing.assert_allclose(
        out[1],
        [3.0, (2 * cx[3] + cx[0]) / 3, (2 * cx[0] + cx[2]) / 3, 8 / 3, 3.0, 0.0],
    )
    np.testing.assert_allclose(out[2], 0.0)


def test_the_repeat_rule_in_the_change_point_segmenter() -> None:
    """``rule="repeat"``: noise_gain's pieces, then the cuts inside one repeated motion go;
    the segment file's granularity says so. Without spatial descriptors: noise_gain."""
    kw = {"beta": 4.0, "min_size_sec": 0.7}
    rng = np.random.default_rng(3)
    spatial, cycles, truth = _cyclic(length=120)
    # the energy features change with every cycle (12 steps): what noise_gain cuts
    x = np.repeat(rng.normal(0.0, 1.0, (len(cycles), 2)), 12, axis=0)
    x += 0.1 * rng.normal(size=x.shape)
    t = np.arange(x.shape[0]) / 10.0
    fine = ChangePointSegmenter(rule="noise_gain", **kw).fit(x, t)
    assert len(fine.change_times()) >= 20
    seg = ChangePointSegmenter(rule="repeat", **kw).fit(x, t, spatial=spatial)
    g = seg.granularity()
    assert g["rule"] == "repeat" and g["fired"] == "repeat"
    assert g["fine_segments"] == len(fine.predict_bkps())
    assert g["merged"] == g["fine_segments"] - len(seg.predict_bkps()) == len(g["merged_at_sec"])
    assert g["repeat_median"] < g["repeat_gate"] == 1.05 and g["repeat_merge"] == 1.25
    assert set(seg.predict_bkps()) <= set(fine.predict_bkps())
    assert boundary_score(t[truth], seg.change_times(), tol=1.0).f1 >= 0.8
    assert boundary_score(t[truth], fine.change_times(), tol=1.0).f1 < 0.5
    plain = ChangePointSegmenter(rule="repeat", **kw).fit(x, t)
    assert plain.predict_bkps() == fine.predict_bkps()
    assert plain.granularity()["fired"] == "noise_gain"
    assert plain.granularity()["repeat_median"] is None


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(20, 200),
    cuts=st.lists(st.integers(1, 199), max_size=30),
    seed=st.integers(0, 2**16),
    gate=st.floats(0.01, 5.0),
    merge=st.floats(0.01, 5.0),
)
def test_the_merge_only_removes_change_points(n, cuts, seed, gate, merge) -> None:
    """Whatever the motion: the kept change points are some of the given ones, in order, and
    the last one is the sequence's end."""
    rng = np.random.default_rng(seed)
    spatial = rng.normal(size=(n, 6))
    spatial[:, 0] = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0, 3, n))
    spatial[:, 3:5] = np.abs(spatial[:, 3:5])
    bkps = [*sorted({c for c in cuts if c < n}), n]
    res = merge_repeats(bkps, spatial, context=5, gate=gate, merge=merge)
    assert res.kept[-1] == n and set(res.kept) <= set(bkps) and res.kept == sorted(res.kept)
    assert res.distances.shape == (len(bkps) - 1,) and (res.distances >= 0).all()
    assert res.fired == (res.median < gate)


def test_the_second_pass_puts_back_a_boundary_and_drops_a_cut_inside_one_motion() -> None:
    """The merge's result with one activity boundary merged away (240) and one cut kept inside
    an activity (180): judged by the pieces they separate, 240 comes back and 180 goes."""
    spatial, fine, truth = _cyclic()
    n = spatial.shape[0]
    assert 180 in fine and 240 in fine
    res = second_pass(fine, [120, 180, n], spatial, context=25, restore=1.15, drop=1.0)
    assert res.kept == [*truth, n]
    assert res.restored == [240] and res.dropped == [180]
    # what it judged by: the pieces on either side, bounded by the kept neighbours
    assert piece_distance(spatial, 215, 240, 265) > 1.15
    assert piece_distance(spatial, 155, 180, 205) < 1.0
    # the merge's own result, when right, is left alone
    right = second_pass(fine, [*truth, n], spatial, context=25, restore=1.15, drop=1.0)
    assert right.kept == [*truth, n] and right.restored == right.dropped == []


def test_the_second_pass_thresholds_decide_and_a_pause_edge_stays() -> None:
    spatial, fine, truth = _cyclic()
    n = spatial.shape[0]
    every = second_pass(fine, [n], spatial, context=25, restore=0.0, drop=0.0)
    assert every.kept == fine and every.dropped == []
    none = second_pass(fine, [*truth, n], spatial, context=25, restore=100.0, drop=100.0)
    assert none.kept == [n] and none.dropped == truth
    spatial[90:120, 0] = 0.0  # still for the 2.5 s before 120: inf, never dropped
    assert piece_distance(spatial, 95, 120, 145) == np.inf
    paused = second_pass(fine, [120, n], spatial, context=25, restore=100.0, drop=100.0)
    # the cuts with a still side (96, 108 inside the pause) come back whatever the threshold
    assert paused.kept == [96, 108, 120, n] and paused.restored == [96, 108]
    with pytest.raises(ValueError, match="context"):
        second_pass(fine, [n], spatial, context=0, restore=1.0, drop=1.0)
    with pytest.raises(ValueError, match="end at n"):
        second_pass(fine, [120], spatial, context=5, restore=1.0, drop=1.0)
    with pytest.raises(ValueError, match="subset"):
        second_pass(fine, [121, n], spatial, context=5, restore=1.0, drop=1.0)


def test_the_second_pass_in_the_change_point_segmenter() -> None:
    """On by default where the repeat gate opened, recorded in the granularity; off with
    ``repeat_second=False`` (the merge alone) and never run where the gate stays closed."""
    kw = {"beta": 4.0, "min_size_sec": 0.7}
    rng = np.random.default_rng(3)
    spatial, cycles, truth = _cyclic(length=120)
    x = np.repeat(rng.normal(0.0, 1.0, (len(cycles), 2)), 12, axis=0)
    x += 0.1 * rng.normal(size=x.shape)
    t = np.arange(x.shape[0]) / 10.0
    fine = ChangePointSegmenter(rule="noise_gain", **kw).fit(x, t).predict_bkps()
    alone = ChangePointSegmenter(rule="repeat", repeat_second=False, **kw).fit(
        x, t, spatial=spatial
    )
    assert "second_pass" not in alone.granularity()
    # restore every merged cut, drop none: the second pass alone decides the result
    seg = ChangePointSegmenter(rule="repeat", repeat_restore=1e-6, repeat_drop=1e-6, **kw)
    g = seg.fit(x, t, spatial=spatial).granularity()
    assert seg.predict_bkps() == fine
    sp = g["second_pass"]
    assert sp["ran"] and sp["context_sec"] == 2.5 and sp["dropped_at_sec"] == []
    assert len(sp["restored_at_sec"]) == len(fine) - len(alone.predict_bkps())
    assert g["merged"] == 0 and g["merged_at_sec"] == []
    default = ChangePointSegmenter(rule="repeat", **kw).fit(x, t, spatial=spatial)
    gd = default.granularity()["second_pass"]
    assert gd["ran"] and (gd["restore"], gd["drop"]) == (1.15, 1.0)
    assert boundary_score(t[truth], default.change_times(), tol=1.0).f1 >= 0.8
    closed = ChangePointSegmenter(rule="repeat", repeat_gate=1e-6, **kw).fit(x, t, spatial=spatial)
    assert closed.predict_bkps() == fine
    assert closed.granularity()["second_pass"] == {
        "ran": False,
        "context_sec": 2.5,
        "restore": 1.15,
        "drop": 1.0,
    }


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(20, 200),
    cuts=st.lists(st.integers(1, 199), max_size=30),
    keep=st.lists(st.booleans(), min_size=30, max_size=30),
    seed=st.integers(0, 2**16),
    restore=st.floats(0.01, 5.0),
    drop=st.floats(0.01, 5.0),
)
def test_the_second_pass_only_chooses_among_the_fine_change_points(
    n, cuts, keep, seed, restore, drop
) -> None:
    """Whatever the motion: the result is some of the fine change points, in order, ending at
    n; what it restored had been merged away, what it dropped had been kept."""
    rng = np.random.default_rng(seed)
    spatial = rng.normal(size=(n, 6))
    spatial[:, 0] = np.where(rng.random(n) < 0.2, 0.0, rng.uniform(0, 3, n))
    spatial[:, 3:5] = np.abs(spatial[:, 3:5])
    fine = [*sorted({c for c in cuts if c < n}), n]
    kept = [c for c, k in zip(fine[:-1], keep, strict=False) if k] + [n]
    res = second_pass(fine, kept, spatial, context=5, restore=restore, drop=drop)
    assert res.kept[-1] == n and set(res.kept) <= set(fine) and res.kept == sorted(res.kept)
    assert not set(res.restored) & set(kept) and set(res.dropped) <= set(kept[:-1])
    assert set(res.kept) == (set(kept) | set(res.restored)) - set(res.dropped)
