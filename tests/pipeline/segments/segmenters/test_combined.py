"""Energy gating + change points inside active spans."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import SegmenterError
from pipeline.segments.segfile import Segment
from pipeline.segments.segmenters import (
    ChangePointSegmenter,
    CombinedSegmenter,
    HysteresisSegmenter,
    split_at,
)
from pipeline.segments.station import to_frames


def _video() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """60 s at 10 Hz: idle 0-10 s, primitive A 10-25 s, primitive B 25-40 s, idle 40-60 s.
    Energy per window (0.4 s stride, centres); features per step with a change inside the
    idle tail at 50 s (camera noise pattern) that gating must suppress."""
    rng = np.random.default_rng(0)
    t_step = np.arange(600) / 10
    feats = rng.normal(0, 0.3, (600, 6))
    feats[(t_step >= 10) & (t_step < 25)] += [2, 0, 0, 1, 0, 0]
    feats[(t_step >= 25) & (t_step < 40)] += [0, 2, -1, 0, 0, 0]
    feats[t_step >= 50] += [0, 0, 0, 0, 2, 2]
    t_win = np.arange(148) * 0.4 + 0.75
    energy = np.where((t_win >= 10) & (t_win < 40), 1.0, 0.1) + rng.normal(0, 0.03, 148)
    return energy, t_win, feats, t_step


def test_gating_plus_change_points() -> None:
    energy, t_win, feats, t_step = _video()
    seg = CombinedSegmenter(
        gate=HysteresisSegmenter(thr_on=0.5, max_len_sec=None),
        changepoints=ChangePointSegmenter(),
    ).fit(energy, t_win, feats, t_step, end_sec=60.0)
    out = seg.predict()
    assert out[0].start_sec == 0.0 and out[-1].end_sec == 60.0
    assert all(a.end_sec == b.start_sec for a, b in zip(out[:-1], out[1:], strict=True))
    active = [s for s in out if s.label == "active"]
    assert len(active) == 2
    assert abs(active[0].start_sec - 10) <= 0.3 and abs(active[1].end_sec - 40) <= 0.3  # snapped
    assert abs(active[0].end_sec - 25) <= 0.3  # the change point inside the active span
    assert [s.label for s in out] == ["idle", "active", "active", "idle"]  # 50 s change dropped


def test_split_at_respects_edges() -> None:
    seg = Segment(10.0, 20.0, "active")
    parts = split_at(seg, np.array([5.0, 9.8, 10.1, 14.0, 16.0, 19.8, 25.0]), edge_sec=0.3)
    assert [(p.start_sec, p.end_sec) for p in parts] == [(10.1, 14), (14, 16), (16, 19.8)]
    parts = split_at(seg, np.array([14.0]), edge_sec=0.3)
    assert [(p.start_sec, p.end_sec) for p in parts] == [(10, 14), (14, 20)]


def test_segments_to_frames_and_errors() -> None:
    frames = to_frames([Segment(0.0, 1.5), Segment(1.5, 2.0)], fps=30.0, frame_count=60)
    assert [(f.start_frame, f.end_frame) for f in frames] == [
        (0, 45),
        (45, 60),
    ]
    with pytest.raises(SegmenterError):
        CombinedSegmenter(
            gate=HysteresisSegmenter(thr_on=1, max_len_sec=None),
            changepoints=ChangePointSegmenter(),
            edge_sec=-1,
        )
