"""Properties of the evaluation metrics (pipeline/evaluation/metrics.py, docs/evaluation.md)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from property.strategies import segmentations
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from pipeline.evaluation.metrics import (
    BOUNDARY_EPS_SEC,
    MatchScore,
    boundary_score,
    dedup_boundaries,
    interior_boundaries,
    match_boundaries,
    mean_scores,
    score_segmentation,
    segment_iou,
    segment_score,
)

times = st.lists(st.floats(0.0, 100.0), max_size=25).map(lambda v: np.sort(np.asarray(v)))
tolerances = st.floats(0.0, 10.0)


@st.composite
def two_segmentations(draw, *, contiguous: bool = True):
    """A ground truth and a prediction of the same video."""
    truth, d = draw(segmentations(contiguous=contiguous))
    pred, _ = draw(segmentations(duration=d, contiguous=contiguous))
    return truth, pred, d


def _bipartite(true_sec: np.ndarray, pred_sec: np.ndarray, tol: float) -> int:
    if true_sec.size == 0 or pred_sec.size == 0:
        return 0
    ok = np.abs(true_sec[:, None] - pred_sec[None, :]) <= tol + 1e-9
    match = maximum_bipartite_matching(csr_matrix(ok.astype(np.int8)), perm_type="column")
    return int(np.sum(match >= 0))


@given(st.integers(0, 40), st.integers(0, 40), st.integers(0, 40))
def test_match_score_ranges(tp_extra, fp, fn):
    s = MatchScore(tp=tp_extra, n_pred=tp_extra + fp, n_true=tp_extra + fn)
    for v in (s.precision, s.recall, s.f1):
        assert 0.0 <= v <= 1.0
    assert (s.f1 == 1.0) == (fp == 0 and fn == 0)
    assert min(s.precision, s.recall) - 1e-12 <= s.f1 <= max(s.precision, s.recall) + 1e-12


@given(times, times, tolerances)
def test_boundary_matching_is_maximum_and_symmetric(true_sec, pred_sec, tol):
    """The two-pointer sweep equals a maximum bipartite matching, both ways round."""
    tp = match_boundaries(true_sec, pred_sec, tol=tol)
    assert tp == _bipartite(true_sec, pred_sec, tol)
    assert tp == match_boundaries(pred_sec, true_sec, tol=tol)
    a, b = boundary_score(true_sec, pred_sec, tol=tol), boundary_score(pred_sec, true_sec, tol=tol)
    assert a.f1 == pytest.approx(b.f1)
    assert a.precision == pytest.approx(b.recall) and a.recall == pytest.approx(b.precision)


@given(times, times, tolerances, tolerances)
def test_boundary_f1_is_monotonic_in_tolerance(true_sec, pred_sec, t1, t2):
    lo, hi = sorted((t1, t2))
    assert (
        boundary_score(true_sec, pred_sec, tol=lo).tp
        <= boundary_score(true_sec, pred_sec, tol=hi).tp
    )
    assert (
        boundary_score(true_sec, pred_sec, tol=lo).f1
        <= boundary_score(true_sec, pred_sec, tol=hi).f1 + 1e-12
    )


@given(times, tolerances)
def test_boundaries_against_themselves_score_one(t, tol):
    assert boundary_score(t, t, tol=tol).f1 == 1.0


def test_negative_tolerance_is_rejected():
    with pytest.raises(ValueError, match="tolerance"):
        boundary_score(np.array([1.0]), np.array([1.0]), tol=-0.1)


@given(st.lists(st.floats(-100, 100), max_size=30), st.floats(0.0, 2.0))
def test_dedup_boundaries_sorted_subset_spaced_by_eps(values, eps):
    out = dedup_boundaries(values, eps=eps)
    assert np.all(np.diff(out) >= eps)
    assert set(out.tolist()) <= set(values)
    if values:
        assert out[0] == min(values)


@given(two_segmentations())
def test_interior_boundaries_lie_inside_the_video(case):
    truth, _, d = case
    b = interior_boundaries(truth, duration_sec=d)
    assert np.all((b > BOUNDARY_EPS_SEC) & (b < d - BOUNDARY_EPS_SEC))
    assert np.all(np.diff(b) >= BOUNDARY_EPS_SEC)


@given(two_segmentations(), st.randoms(use_true_random=False))
def test_boundaries_and_segment_matches_ignore_segment_order(case, rnd):
    truth, pred, d = case
    shuffled = list(pred)
    rnd.shuffle(shuffled)
    assert np.array_equal(
        interior_boundaries(pred, duration_sec=d), interior_boundaries(shuffled, duration_sec=d)
    )
    for iou in (0.1, 0.5, 1.0):
        assert segment_score(truth, pred, iou=iou) == segment_score(truth, shuffled, iou=iou)
    a = score_segmentation(truth, pred, duration_sec=d, fill=False)
    assert a == score_segmentation(truth, shuffled, duration_sec=d, fill=False)


@given(two_segmentations(contiguous=False))
def test_segment_iou_range_symmetry_and_identity(case):
    truth, pred, _ = case
    ta = np.array([[s.start_sec, s.end_sec] for s in truth]).reshape(-1, 2)
    pa_ = np.array([[s.start_sec, s.end_sec] for s in pred]).reshape(-1, 2)
    m = segment_iou(ta, pa_)
    assert m.shape == (len(truth), len(pred))
    assert np.all((m >= 0) & (m <= 1))
    assert np.allclose(m, segment_iou(pa_, ta).T)
    assert np.allclose(np.diag(segment_iou(ta, ta)), 1.0)


@given(two_segmentations(), st.floats(0.01, 1.0), st.floats(0.01, 1.0))
def test_segment_score_bounds_and_monotonic_in_iou(case, i1, i2):
    truth, pred, _ = case
    lo, hi = sorted((i1, i2))
    a, b = segment_score(truth, pred, iou=lo), segment_score(truth, pred, iou=hi)
    assert b.tp <= a.tp <= min(len(truth), len(pred))
    assert segment_score(truth, pred, iou=lo).f1 == pytest.approx(
        segment_score(pred, truth, iou=lo).f1
    )


@pytest.mark.parametrize("iou", [0.0, -0.5, 1.5])
def test_iou_threshold_out_of_range_is_rejected(iou):
    with pytest.raises(ValueError, match="IoU threshold"):
        segment_score([], [], iou=iou)


@given(two_segmentations(contiguous=False), st.sampled_from([(), ("idle",), ("active",)]))
def test_every_score_is_in_range_and_perfect_prediction_scores_one(case, exclude):
    truth, pred, d = case
    scores = score_segmentation(truth, pred, duration_sec=d, exclude_labels=exclude)
    for k, v in scores.items():
        if not k.startswith("n_"):
            assert 0.0 <= v <= 1.0, k
    perfect = score_segmentation(truth, truth, duration_sec=d, exclude_labels=exclude)
    assert all(v == 1.0 for k, v in perfect.items() if "_f1@" in k or "_precision@" in k)
    assert all(v == 1.0 for k, v in perfect.items() if "_recall@" in k)


@given(two_segmentations())
def test_swapping_truth_and_prediction_swaps_precision_and_recall(case):
    truth, pred, d = case
    a = score_segmentation(truth, pred, duration_sec=d)
    b = score_segmentation(pred, truth, duration_sec=d)
    for k in a:
        if "_f1@" in k:
            assert a[k] == pytest.approx(b[k])
        if "_precision@" in k:
            assert a[k] == pytest.approx(b[k.replace("precision", "recall")])
    assert a["n_true"] == b["n_pred"] and a["n_true_boundaries"] == b["n_pred_boundaries"]


@given(
    st.lists(
        st.fixed_dictionaries({"a": st.floats(0, 1), "b": st.floats(-5, 5)}), min_size=1, max_size=8
    )
)
def test_mean_scores_lie_between_min_and_max(rows):
    m = mean_scores(rows)
    for k in ("a", "b"):
        vals = [r[k] for r in rows]
        assert min(vals) - 1e-12 <= m[k] <= max(vals) + 1e-12
    assert mean_scores([rows[0]] * 3) == pytest.approx(rows[0])


def test_mean_scores_names_a_missing_metric():
    with pytest.raises(KeyError, match="lacks metrics"):
        mean_scores([{"a": 1.0}, {"b": 1.0}])
