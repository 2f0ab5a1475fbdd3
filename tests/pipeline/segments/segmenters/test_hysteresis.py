"""Hysteresis state machine: debounce, cooldown, min / max length, causality, idle filling."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from pipeline.errors import NotFittedError
from pipeline.segments.segfile import Segment, fill_gaps
from pipeline.segments.segmenters import HysteresisSegmenter


def _spans(energy: list[float], *, dt: float = 0.4, **kw: object) -> list[tuple[int, int]]:
    params: dict[str, object] = dict(thr_on=1.0, max_len_sec=None, alpha=1.0)
    params.update(kw)
    seg = HysteresisSegmenter(**params)  # type: ignore[arg-type]
    e = np.asarray(energy, dtype=float)
    return seg.fit(e, np.arange(e.size) * dt).predict_index()


def test_basic_start_and_end_are_backdated_to_run_start() -> None:
    e = [0, 0, 2, 2, 2, 2, 2, 0, 0, 0, 0]
    assert _spans(e) == [(2, 7)]


def test_one_window_spike_does_not_start() -> None:
    assert _spans([0, 0, 2, 0, 0, 0, 2, 0, 0]) == []
    assert _spans([0, 0, 2, 0, 0, 0], up=1, min_len=1) == [(2, 3)]


def test_one_window_dip_does_not_end() -> None:
    assert _spans([0, 2, 2, 2, 0, 2, 2, 2, 0, 0, 0]) == [(1, 8)]


def test_threshold_off_hysteresis_band() -> None:
    # 0.96 is below thr_on (1.0) but above thr_off (0.95): stays active
    assert _spans([0, 2, 2, 0.96, 0.96, 0.96, 0, 0]) == [(1, 6)]
    assert _spans([0, 2, 2, 0.96, 0.96, 0.96, 0, 0], off_ratio=0.99, min_len=2) == [(1, 3)]


def test_min_length_drops_short_bursts() -> None:
    e = [0, 2, 2, 0, 0, 0, 0]
    assert _spans(e) == []
    assert _spans(e, min_len=2) == [(1, 3)]


def test_cooldown_delays_the_next_start() -> None:
    e = [0, 2, 2, 2, 0, 0, 2, 2, 2, 2, 0, 0, 0]
    assert _spans(e, cooldown=0) == [(1, 4), (6, 10)]
    assert _spans(e, cooldown=1) == [(1, 4), (7, 10)]


def test_max_length_cuts_into_tiles_and_drops_short_tail() -> None:
    e = [2.0] * 18
    assert _spans(e, dt=0.5) == [(0, 18)]
    assert _spans(e, dt=0.5, max_len_sec=2.0) == [(0, 4), (4, 8), (8, 12), (12, 16)]
    assert _spans(e, dt=0.5, max_len_sec=2.0, min_len=2) == [
        (0, 4),
        (4, 8),
        (8, 12),
        (12, 16),
        (16, 18),
    ]


def test_segment_open_at_end_is_closed_at_signal_end() -> None:
    assert _spans([0, 0, 2, 2, 2, 2]) == [(2, 6)]


def test_ema_smoothing_is_causal_and_prefix_invariant() -> None:
    rng = np.random.default_rng(3)
    e = np.repeat(rng.choice([0.2, 2.0], size=30), 4) + rng.normal(0, 0.2, 120)
    t = np.arange(e.size) * 0.4
    full = HysteresisSegmenter(thr_on=1.0, max_len_sec=None).fit(e, t)
    assert full.smoothed_ is not None and len(full.predict_index()) >= 3
    for k in (17, 40, 77, 120):
        part = HysteresisSegmenter(thr_on=1.0, max_len_sec=None).fit(e[:k], t[:k])
        assert part.smoothed_ is not None
        np.testing.assert_allclose(part.smoothed_, full.smoothed_[:k])
        closed = part.predict_index()[:-1]  # the last one may be closed by the prefix end
        assert closed == full.predict_index()[: len(closed)]


def test_default_alpha_smooths_a_spike() -> None:
    # y = 0, 0, 2.1, 0.63 ...: one window above thr_on, no start even with up=1 and min_len 3
    assert _spans([0, 0, 3, 0, 0, 0], alpha=0.7, up=1) == []


def test_predict_in_seconds_and_fill_gaps() -> None:
    e = np.array([0, 0, 2, 2, 2, 2, 2, 0, 0, 0], dtype=float)
    seg = HysteresisSegmenter(thr_on=1.0, max_len_sec=None, alpha=1.0)
    active = seg.fit(e, np.arange(10) * 0.5 + 0.25, end_sec=5.0).predict()
    assert active == [Segment(1.25, 3.75, "active")]
    full = fill_gaps(active, duration_sec=5.0)
    assert [s.label for s in full] == ["idle", "active", "idle"]
    assert full[0].start_sec == 0.0 and full[-1].end_sec == 5.0
    assert all(a.end_sec == b.start_sec for a, b in zip(full[:-1], full[1:], strict=True))


def test_parameter_validation_and_not_fitted() -> None:
    with pytest.raises(ValidationError):
        HysteresisSegmenter(thr_on=-1.0, max_len_sec=None)
    with pytest.raises(ValidationError):
        HysteresisSegmenter(thr_on=1.0, max_len_sec=None, up=0)
    with pytest.raises(NotFittedError):
        HysteresisSegmenter(thr_on=1.0, max_len_sec=2.0).predict()
    with pytest.raises(ValueError):
        HysteresisSegmenter(thr_on=1.0, max_len_sec=None).fit(np.ones((5, 2)), np.arange(5.0))
