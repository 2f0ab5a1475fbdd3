"""Signals of the segmentation stage: z_q from codes, the per-step code timeline, frame mapping,
ids and the per-step motion energy (pure numpy, no video)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from models.fsq import FSQ
from pipeline.errors import SignalError
from pipeline.segments.motion import (
    StepTracks,
    conveyor_weights,
    motion_features,
    phase_standardize,
    step_velocities,
)
from pipeline.segments.segfile import Segment
from pipeline.segments.signals import VideoSignals, codes_to_latents
from pipeline.segments.stage import segment_id
from pipeline.segments.station import to_frames
from pipeline.tracks.window_tracks import WindowTracks


@pytest.mark.parametrize("levels", [(8, 5, 5, 5), (4, 3), (8, 8, 6, 5), (2, 7)])
def test_codes_to_latents_matches_fsq(levels):
    fsq = FSQ(levels)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, fsq.codebook_size, (50, 15))
    want = fsq.indices_to_codes(torch.from_numpy(idx)).numpy()
    got = codes_to_latents(idx.astype(np.int16), levels)
    np.testing.assert_array_equal(got, want)
    # and back: the quantizer maps the rebuilt latents to the same indices
    back = fsq.codes_to_indices(torch.from_numpy(got)).numpy()
    np.testing.assert_array_equal(back, idx)


def test_codes_to_latents_rejects_out_of_range():
    with pytest.raises(SignalError, match="outside"):
        codes_to_latents(np.array([0, 12]), (4, 3))


def _signals(window_index: list[int], *, steps: int = 15, stride: int = 4) -> VideoSignals:
    w = len(window_index)
    idx = np.asarray(window_index, np.int64)
    codes = np.array([[100 * i + k for k in range(steps)] for i in window_index], np.int16)
    start = idx * stride / 10.0
    return VideoSignals(
        video_id="v" * 64,
        fps=30.0,
        target_fps=10.0,
        stride=stride,
        frame_count=int((idx[-1] * stride + steps + 1) * 3),
        window_index=idx,
        start_sec=start,
        end_sec=start + steps / 10.0,
        gated=np.zeros(w, bool),
        codes=codes,
        z_q=np.zeros((w, steps, 2), np.float32),
        z_pre=np.zeros((w, steps, 2), np.float32),
        stats={k: np.zeros(w) for k in ("track_speed", "flow_magnitude", "pixel_diff")},
    )


def test_step_codes_take_the_latest_window_starting_at_or_before_the_step():
    sig = _signals([0, 1, 2, 3])
    codes = sig.step_codes()
    assert codes.size == 3 * 4 + 15  # last window start + its 15 steps
    for s, c in enumerate(codes):
        w = min(s // 4, 3)
        assert c == 100 * w + (s - 4 * w), s
    # step times: step s is target frame s = source frame 3 s
    np.testing.assert_allclose(sig.step_times(), np.arange(codes.size) * 3 / 30.0)


def test_step_codes_mark_steps_no_window_covers():
    sig = _signals([0, 5])  # windows 1-4 missing: steps 15..19 are covered by nobody
    codes = sig.step_codes()
    assert (codes[15:20] == -1).all()
    assert codes[20] == 500 and codes[14] == 14


def test_to_frames_rounds_boundaries_to_source_frames_and_covers_the_video():
    fps, n = 29.97, 900
    segs = [Segment(0.0, 1.234, "idle"), Segment(1.234, 5.0, "active"), Segment(5.0, 20.0, "x")]
    out = to_frames(segs, fps=fps, frame_count=n)
    assert out[0].start_frame == 0 and out[-1].end_frame == n
    for a, b in zip(out[:-1], out[1:], strict=True):
        assert a.end_frame == b.start_frame  # contiguous
    assert out[0].end_frame == round(1.234 * fps) == 37
    assert out[1].end_frame == round(5.0 * fps)
    sec = out[1].seconds(fps)
    assert sec.start_sec == 37 / fps  # back to time: frame / fps exactly


def test_to_frames_drops_pieces_shorter_than_a_frame():
    out = to_frames(
        [Segment(0, 1.0, "active"), Segment(1.0, 1.01, "active")], fps=10, frame_count=30
    )
    assert [(s.start_frame, s.end_frame, s.label) for s in out] == [
        (0, 10, "active"),
        (10, 30, "idle"),
    ]


def test_segment_id_is_deterministic_and_depends_on_every_part():
    a = segment_id("ab" * 32, 10, 40, "tok1")
    assert a == segment_id("ab" * 32, 10, 40, "tok1")
    assert len(a) == 32 and int(a, 16) >= 0
    others = {
        segment_id("ac" * 32, 10, 40, "tok1"),
        segment_id("ab" * 32, 11, 40, "tok1"),
        segment_id("ab" * 32, 10, 41, "tok1"),
        segment_id("ab" * 32, 10, 40, "tok2"),
    }
    assert a not in others and len(others) == 4


def _tracks(
    window_index: np.ndarray, vel: np.ndarray, vis: np.ndarray | None = None
) -> WindowTracks:
    w, s, n, _ = vel.shape
    z = np.zeros(w)
    return WindowTracks(
        window_index=window_index, frame_indices=np.zeros((w, s + 1)), start_frame=z,
        end_frame=z, start_sec=z, end_sec=z, velocities=vel,
        visibility=np.ones((w, s + 1, n), bool) if vis is None else vis, gated=z,
        camera_compensated=z, global_motion_share=z, track_speed=z, flow_magnitude=z,
        pixel_diff=z, frame_size=(64, 48),
    )  # fmt: skip


def _windows_of(per_step: np.ndarray, n_win: int, steps: int = 15) -> np.ndarray:
    """Every window sees the same per-step values of the steps it covers (stride 4)."""
    return np.stack([per_step[w * 4 : w * 4 + steps] for w in range(n_win)])


def test_step_velocities_rebuild_the_per_step_series_and_lost_points():
    rng = np.random.default_rng(0)
    n_win, steps, n = 30, 15, 6
    total = (n_win - 1) * 4 + steps
    per_step = rng.normal(0, 1e-2, (total, n, 2)).astype(np.float32)
    visible = rng.random((total + 1, n)) > 0.2  # at the end of step s: row s + 1
    vel = _windows_of(per_step, n_win)
    vis = np.stack([visible[w * 4 : w * 4 + steps + 1] for w in range(n_win)])
    parts = [_tracks(np.arange(0, 15), vel[:15], vis[:15]),
             _tracks(np.arange(15, 30), vel[15:], vis[15:])]  # fmt: skip
    st = step_velocities(reversed(parts), stride=4)
    assert st.num_steps == total and st.covered.all()
    np.testing.assert_array_equal(st.lost, ~visible[1:])
    np.testing.assert_allclose(st.velocities, np.where(visible[1:, :, None], per_step, 0.0))


def test_motion_energy_ignores_persistent_motion_and_finds_a_burst():
    rng = np.random.default_rng(1)
    total, n = 200, 16
    per_step = rng.normal(0, 1e-3, (total, n, 2))  # sensor noise
    per_step[:, :4, 0] += 0.05  # a running belt under 4 points: always moving
    per_step[40:60, 8:12, 1] += 0.04  # a hand: 4 points move during steps 40..59
    st = StepTracks(per_step.astype(np.float32), np.zeros((total, n), bool), np.ones(total, bool))
    # (the burst goes one way only, so the conveyor filter would drop it: off here)
    e = motion_features(st, smooth_steps=0, conveyor_filter=False).motion
    assert e[40:60].min() > 0.1  # the burst, 4 points x ~0.04
    assert e[:38].max() < 0.02 and e[62:].max() < 0.02  # belt and noise removed


def test_conveyor_filter_drops_items_carried_one_way_and_keeps_hands():
    rng = np.random.default_rng(2)
    total, n = 400, 12
    v = rng.normal(0, 1e-3, (total, n, 2))
    for start in range(10, total - 10, 37):  # items pass under points 0..3 now and then
        v[start : start + 6, :4, 0] += 0.05
    for start in range(20, total - 20, 50):  # a hand goes out and back over points 6..9
        v[start : start + 5, 6:10, 1] += 0.04
        v[start + 5 : start + 10, 6:10, 1] -= 0.04
    residual = v - np.median(v, axis=0)
    w = conveyor_weights(residual)
    assert w[:4].max() == 0.0 and w[6:10].min() == 1.0
    st = StepTracks(v.astype(np.float32), np.zeros((total, n), bool), np.ones(total, bool))
    filtered = motion_features(st, smooth_steps=0).motion
    unfiltered = motion_features(st, smooth_steps=0, conveyor_filter=False).motion
    items_only = np.zeros(total, bool)
    for start in range(10, total - 10, 37):
        items_only[start : start + 6] = True
    for start in range(20, total - 20, 50):
        items_only[start : start + 10] = False
    assert unfiltered[items_only].mean() > 0.05
    assert filtered[items_only].max() < 0.005  # the belt items are gone (noise is left) ...
    assert filtered[20:30].min() > 0.05  # ... the hand is not


def test_smoothing_reveals_slow_motion_under_the_noise():
    rng = np.random.default_rng(3)
    total, n = 300, 20
    v = rng.normal(0, 1e-2, (total, n, 2))
    v[100:150, :10, 0] += 0.012  # a slow grasp: under the per-step noise (0.01 per axis)
    st = StepTracks(v.astype(np.float32), np.zeros((total, n), bool), np.ones(total, bool))

    def contrast(smooth: float) -> float:
        e = motion_features(st, smooth_steps=smooth, conveyor_filter=False).motion
        return float(e[105:145].mean() - np.r_[e[:95], e[155:]].mean())

    assert contrast(2.0) > 2 * max(contrast(0.0), 1e-6)


def test_occlusion_energy_counts_lost_points_above_their_usual_rate():
    total, n = 100, 10
    lost = np.zeros((total, n), bool)
    lost[:, 0] = True  # a point always lost (e.g. at the frame edge): its usual rate
    lost[30:40, 3:8] = True  # a hand covers 5 points
    st = StepTracks(np.zeros((total, n, 2), np.float32), lost, np.ones(total, bool))
    occ = motion_features(st).occlusion
    np.testing.assert_allclose(occ[30:40], 5.0)
    assert occ[:30].max() == 0 and occ[40:].max() == 0


def test_phase_standardize_removes_a_saw_tooth():
    rng = np.random.default_rng(4)
    x = np.tile([0.0, 1.0, 2.0, 3.0], 50) + rng.normal(0, 0.1, 200)
    x[100:120] += 5.0
    z = phase_standardize(x, 4)
    base = np.r_[z[:100], z[120:]]
    assert abs(base.mean()) < 0.3 and z[100:120].min() > 10 * base.std()
    assert np.all(phase_standardize(np.ones(12), 4) == 0)


def test_fingerprint_follows_the_weights_in_use():
    from pipeline.segments import config as segconfig
    from pipeline.segments.config import SegmentationConfig

    default = SegmentationConfig()
    explicit = SegmentationConfig(feature_weights=default.weights())
    assert default.fingerprint() == explicit.fingerprint()
    other = SegmentationConfig(feature_weights=(1.0, 1.0))
    assert other.fingerprint() != default.fingerprint()
    assert dict(zip(default.features, default.weights(), strict=True)) == {
        f: segconfig.DEFAULT_WEIGHTS.get(f, 1.0) for f in default.features
    }
