"""Boundary / segment F1 on hand-computed examples; greedy matching is maximal."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from pipeline.evaluation.metrics import (
    MatchScore,
    boundary_score,
    dedup_boundaries,
    interior_boundaries,
    match_boundaries,
    mean_scores,
    score_segmentation,
    segment_score,
)
from pipeline.segments.segfile import Segment


def _segs(edges: list[float], label: str | None = None) -> list[Segment]:
    return [Segment(a, b, label) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def test_boundary_one_to_one_hand_example() -> None:
    s = boundary_score(np.array([2.0, 5.0, 9.0]), np.array([2.4, 5.9, 6.1, 12.0]), tol=1.0)
    assert (s.tp, s.n_pred, s.n_true) == (2, 4, 3)
    assert s.precision == pytest.approx(0.5)
    assert s.recall == pytest.approx(2 / 3)
    assert s.f1 == pytest.approx(2 * 0.5 * (2 / 3) / (0.5 + 2 / 3))


def test_two_predictions_near_one_truth_count_once() -> None:
    s = boundary_score(np.array([5.0]), np.array([4.8, 5.2]), tol=0.5)
    assert (s.tp, s.precision, s.recall) == (1, 0.5, 1.0)


def test_matching_is_maximum_not_nearest_first() -> None:
    # nearest-first would pair 2.0 with 2.9 and leave 3.6 unmatched
    assert match_boundaries(np.array([2.0, 3.6]), np.array([2.9, 1.5]), tol=1.0) == 2


def test_tolerance_is_inclusive_and_monotone() -> None:
    t, p = np.array([1.0, 4.0]), np.array([1.5, 6.0])
    assert match_boundaries(t, p, tol=0.5) == 1
    assert [match_boundaries(t, p, tol=x) for x in (0.1, 0.5, 2.0)] == [0, 1, 2]


def test_greedy_equals_bipartite_maximum_matching() -> None:
    rng = np.random.default_rng(0)
    for _ in range(200):
        t = np.sort(rng.uniform(0, 20, rng.integers(0, 12)))
        p = np.sort(rng.uniform(0, 20, rng.integers(0, 12)))
        tol = float(rng.choice([0.5, 1.0, 2.0]))
        adj = (np.abs(t[:, None] - p[None, :]) <= tol).astype(np.int8)
        expected = 0
        if t.size and p.size:
            match = maximum_bipartite_matching(csr_matrix(adj), perm_type="column")
            expected = int(np.sum(match >= 0))
        assert match_boundaries(t, p, tol=tol) == expected


def test_interior_and_dedup() -> None:
    segs = [Segment(0.0, 2.0), Segment(2.0, 5.0), Segment(5.02, 10.0)]
    np.testing.assert_allclose(interior_boundaries(segs, duration_sec=10.0), [2.0, 5.0])
    np.testing.assert_allclose(dedup_boundaries([3.0, 1.0, 1.01, 1.02], eps=0.05), [1.0, 3.0])


def test_empty_conventions() -> None:
    assert MatchScore(0, 0, 0).f1 == 1.0
    assert MatchScore(0, 0, 3).f1 == 0.0
    assert MatchScore(0, 2, 0).precision == 0.0


def test_segment_f1_hand_example() -> None:
    gt = _segs([0, 4, 10])
    pred = _segs([0, 1, 10])  # IoUs: 0.25, 0.3, 0.667
    assert segment_score(gt, pred, iou=0.25).tp == 2
    s = segment_score(gt, pred, iou=0.5)
    assert (s.tp, s.precision, s.recall) == (1, 0.5, 0.5)
    assert segment_score(gt, _segs([0, 5, 10]), iou=0.5).tp == 2


def test_score_segmentation_keys_and_perfect_prediction() -> None:
    gt = _segs([0, 3, 7, 12], "a")
    scores = score_segmentation(gt, gt, duration_sec=12.0)
    for key in (
        "boundary_f1@0.5",
        "boundary_f1@1.0",
        "boundary_f1@2.0",
        "boundary_f1@5.0",
        "segment_f1@0.1",
        "segment_f1@0.25",
        "segment_f1@0.5",
    ):
        assert scores[key] == 1.0
    assert (scores["n_true"], scores["n_pred"], scores["n_true_boundaries"]) == (3, 3, 2)


def test_gaps_become_idle_segments_and_can_be_excluded() -> None:
    gt = [Segment(2.0, 5.0, "reach"), Segment(5.0, 8.0, "grasp")]
    pred = [Segment(0.0, 2.0, "idle"), Segment(2.0, 8.0, "active"), Segment(8.0, 10.0, "idle")]
    s = score_segmentation(gt, pred, duration_sec=10.0)
    assert s["n_true"] == 4 and s["n_pred"] == 3  # idle fillers counted by default
    assert s["boundary_recall@0.5"] == pytest.approx(2 / 3)
    # both idle pairs match, and [2, 8) vs [2, 5) has IoU exactly 0.5 (inclusive): P=1, R=3/4
    assert s["segment_f1@0.5"] == pytest.approx(6 / 7)
    x = score_segmentation(gt, pred, duration_sec=10.0, exclude_labels={"idle"})
    assert x["n_true"] == 2 and x["n_pred"] == 1
    assert x["segment_f1@0.5"] == pytest.approx(2 / 3)
    assert x["segment_f1@0.25"] == pytest.approx(2 / 3)
    assert x["boundary_recall@0.5"] == s["boundary_recall@0.5"]


def test_mean_scores() -> None:
    assert mean_scores([{"a": 1.0}, {"a": 0.0}]) == {"a": 0.5}
    with pytest.raises(KeyError):
        mean_scores([{"a": 1.0}, {"b": 0.0}])
