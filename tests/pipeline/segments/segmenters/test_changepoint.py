"""Change-point segmenter: finds synthetic boundaries at different densities, label-free."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from pydantic import ValidationError

from pipeline.errors import NotFittedError, SegmenterError
from pipeline.evaluation.metrics import boundary_score
from pipeline.segments.segmenters import ChangePointSegmenter
from pipeline.segments.segmenters.cpd_path import CostPath, l2_cost

DENSITIES = {"dense": (10, 30), "sparse": (60, 150)}  # segment lengths in 10 Hz steps


@pytest.mark.parametrize("rule", ["consensus", "noise_gain", "knee", "adaptive"])
@pytest.mark.parametrize("density", sorted(DENSITIES))
def test_finds_boundaries_at_different_densities(
    piecewise: Callable[..., tuple], rule: str, density: str
) -> None:
    lo, hi = DENSITIES[density]
    for seed in (0, 1):
        x, t, truth = piecewise(seed, n=1500, dim=8, min_len=lo, max_len=hi, noise=0.6)
        seg = ChangePointSegmenter(rule=rule).fit(x, t)
        score = boundary_score(truth, seg.change_times(), tol=1.0)
        assert score.f1 >= 0.75, (rule, density, seed, score)


def test_density_adapts_per_video(piecewise: Callable[..., tuple]) -> None:
    xd, td, dense = piecewise(5, n=1200, dim=8, min_len=10, max_len=30, noise=0.6)
    xs, ts, sparse = piecewise(5, n=1200, dim=8, min_len=80, max_len=200, noise=0.6)
    nd = len(ChangePointSegmenter().fit(xd, td).change_times())
    ns = len(ChangePointSegmenter().fit(xs, ts).change_times())
    assert nd > 3 * ns
    assert 0.6 * len(dense) <= nd <= 1.5 * len(dense)


def test_adaptive_keeps_dense_pieces_and_takes_the_knee_for_long_segments(
    piecewise: Callable[..., tuple],
) -> None:
    """noise_gain sets a density, not a count: on long segments with correlated noise it cuts
    eight times too often (F1 0.23); the adaptive rule sees its count far above the knee's and
    takes the knee, and on dense segments it keeps noise_gain's pieces exactly."""
    kw = {"beta": 4.0, "min_size_sec": 0.7}
    x, t, truth = piecewise(0, n=1200, dim=8, min_len=8, max_len=25, noise=0.5)
    fine = ChangePointSegmenter(rule="noise_gain", **kw).fit(x, t)
    dense = ChangePointSegmenter(rule="adaptive", **kw).fit(x, t)
    assert dense.predict_bkps() == fine.predict_bkps()
    g = dense.granularity()
    assert g["fired"] == "noise_gain" and g["merged"] == 0 and g["merged_at_sec"] == []
    assert g["fine_segments"] <= 2.4 * g["coarse_segments"]
    x, t, truth = piecewise(0, n=1200, dim=8, min_len=50, max_len=200, noise=0.5)
    fine = ChangePointSegmenter(rule="noise_gain", **kw).fit(x, t)
    sparse = ChangePointSegmenter(rule="adaptive", **kw).fit(x, t)
    g = sparse.granularity()
    assert g["fired"] == "knee" and g["fine_segments"] == len(fine.predict_bkps())
    assert g["merged"] == g["fine_segments"] - g["coarse_segments"] > 0
    merged, kept = np.array(g["merged_at_sec"]), sparse.change_times()
    assert merged.size == g["merged"] and not np.isin(merged.round(3), kept.round(3)).any()
    fine_times = fine.change_times().round(3)
    assert np.isin(merged, fine_times).all()  # they are noise_gain's, dropped
    assert boundary_score(truth, fine.change_times(), tol=1.0).f1 < 0.5
    assert boundary_score(truth, sparse.change_times(), tol=1.0).f1 >= 0.9
    refit = sparse.fit(*piecewise(0, n=1200, dim=8, min_len=8, max_len=25, noise=0.5)[:2])
    assert refit.granularity()["fired"] == "noise_gain"  # nothing kept from the last fit


def test_granularity_of_the_plain_rules_names_the_rule(piecewise: Callable[..., tuple]) -> None:
    x, t, _ = piecewise(1, n=600, dim=4, min_len=10, max_len=30, noise=0.5)
    g = ChangePointSegmenter(rule="knee").fit(x, t).granularity()
    assert g == {"rule": "knee", "fired": "knee"}


def test_pure_noise_gives_few_change_points() -> None:
    x = np.random.default_rng(0).normal(size=(1000, 8))
    seg = ChangePointSegmenter(rule="noise_gain").fit(x, np.arange(1000) / 10)
    assert len(seg.change_times()) <= 3


def test_min_size_scale_invariance_and_contiguity(piecewise: Callable[..., tuple]) -> None:
    x, t, _ = piecewise(2, n=800, dim=4, min_len=10, max_len=40, noise=0.5)
    seg = ChangePointSegmenter(min_size_sec=0.8).fit(x, t, end_sec=80.0)
    bkps = seg.predict_bkps()
    assert bkps[-1] == 800 and np.all(np.diff([0, *bkps]) >= 8)
    segments = seg.predict()
    assert segments[0].start_sec == 0.0 and segments[-1].end_sec == 80.0
    assert all(a.end_sec == b.start_sec for a, b in zip(segments[:-1], segments[1:], strict=True))
    scaled = ChangePointSegmenter(min_size_sec=0.8).fit(1000.0 * x + 7.0, t)
    assert scaled.predict_bkps() == bkps


def test_fixed_rule_and_constant_signal(piecewise: Callable[..., tuple]) -> None:
    x, t, _ = piecewise(1, n=400, dim=3, min_len=20, max_len=60, noise=0.3)
    assert len(ChangePointSegmenter(rule="fixed", n_bkps=4).fit(x, t).change_times()) == 4
    flat = ChangePointSegmenter().fit(np.ones((300, 3)), np.arange(300) / 10)
    assert flat.predict_bkps() == [300]
    with pytest.raises(SegmenterError, match="impossible"):
        ChangePointSegmenter(rule="fixed", n_bkps=500).fit(x, t)
    with pytest.raises(ValidationError):
        ChangePointSegmenter(rule="fixed")


def test_rbf_kernel_on_short_signal_and_guard(piecewise: Callable[..., tuple]) -> None:
    x, t, truth = piecewise(3, n=300, dim=4, min_len=30, max_len=80, noise=0.4)
    seg = ChangePointSegmenter(kernel="rbf", rule="knee").fit(x, t)
    assert boundary_score(truth, seg.change_times(), tol=1.0).f1 >= 0.6
    with pytest.raises(SegmenterError, match="rbf"):
        ChangePointSegmenter(kernel="rbf").fit(np.zeros((4000, 2)), np.arange(4000.0))


def test_cost_path_is_convex_and_decreasing(piecewise: Callable[..., tuple]) -> None:
    x, _, _ = piecewise(4, n=600, dim=4, min_len=20, max_len=60, noise=0.5)
    hull = CostPath(x, kernel="linear", min_size=5).full(per_decade=4)
    k = np.array([p.n_bkps for p in hull])
    c = np.array([p.cost for p in hull])
    assert k[0] == 0 and np.all(np.diff(k) > 0) and np.all(np.diff(c) < 0)
    gains = -np.diff(c) / np.diff(k)
    assert np.all(np.diff(gains) <= 1e-9 * gains[0])
    assert l2_cost(np.array([[1.0], [3.0], [10.0], [10.0]]), [2, 4]) == pytest.approx(2.0)


def test_input_errors() -> None:
    with pytest.raises(NotFittedError):
        ChangePointSegmenter().predict()
    with pytest.raises(SegmenterError, match="increase"):
        ChangePointSegmenter().fit(np.zeros((5, 2)), np.array([0, 1, 1, 2, 3.0]))
    with pytest.raises(SegmenterError, match="non-finite"):
        ChangePointSegmenter().fit(np.full((5, 2), np.nan), np.arange(5.0))


def test_consensus_ignores_the_knee_of_pure_noise() -> None:
    x = np.random.default_rng(1).normal(size=(1500, 16))
    seg = ChangePointSegmenter(rule="consensus").fit(x, np.arange(1500) / 10)
    assert len(seg.change_times()) <= 3
    assert len(ChangePointSegmenter(rule="knee").fit(x, np.arange(1500) / 10).change_times()) > 10


def test_noise_gain_rule_falls_back_to_the_knee_on_noise_free_features():
    # an energy that is exactly 0 between clean bursts: no noise to measure a gain by
    x = np.zeros(300)
    x[50:90] = 1.0
    x[150:200] = 1.0
    x[240:260] = 1.0
    times = np.arange(300) / 10.0
    seg = ChangePointSegmenter(rule="noise_gain", beta=4.0, min_size_sec=0.5).fit(x[:, None], times)
    knee = ChangePointSegmenter(rule="knee", min_size_sec=0.5).fit(x[:, None], times)
    assert seg.noise_gain_ == 0
    found = seg.change_times()
    assert found.size >= 2  # the noise-gain rule alone would find none
    np.testing.assert_array_equal(found, knee.change_times())
    assert set(found) <= {5.0, 9.0, 15.0, 20.0, 24.0, 26.0}
