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
