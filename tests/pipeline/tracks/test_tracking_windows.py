"""Window bookkeeping, the pixel-difference gate and camera compensation of ``track_windows``."""

from __future__ import annotations

import numpy as np
import pytest

import pipeline.tracks.flow as flow
from pipeline.config import WindowConfig
from pipeline.io.video import Frame
from pipeline.tracks.tracking import TrackingConfig, WindowTracks, track_windows

WCFG = WindowConfig()
T, STRIDE = WCFG.window_frames, WCFG.stride_frames


def counting(frames):
    """Yield ``frames`` and count how many were read (in ``counter[0]``)."""
    counter = [0]

    def gen():
        for f in frames:
            counter[0] += 1
            yield f

    return gen(), counter


def test_window_bookkeeping_uses_source_indexes_and_times(synth):
    frames = synth.render(synth.translation(1.0, 0.5), T + 3 * STRIDE + 2, index_step=3)
    tracks = track_windows(frames, WCFG, first_window_index=7)
    assert len(tracks) == 4  # k = 0..3: the window starting at frame 16 would need 32 frames
    np.testing.assert_array_equal(tracks.window_index, [7, 8, 9, 10])
    for k in range(4):
        expected = [frames[k * STRIDE + j].index for j in range(T)]
        np.testing.assert_array_equal(tracks.frame_indices[k], expected)
        assert tracks.start_frame[k] == expected[0] == 3 * k * STRIDE
        assert tracks.end_frame[k] == expected[-1]
        assert tracks.start_sec[k] == frames[k * STRIDE].t_sec
        assert tracks.end_sec[k] == frames[k * STRIDE + T - 1].t_sec
    assert tracks.velocities.shape == (4, T - 1, WCFG.num_points, 2)
    assert tracks.velocities.dtype == np.float32
    assert tracks.visibility.shape == (4, T, WCFG.num_points)


def test_max_windows_stops_reading_frames(synth):
    frames = synth.render(synth.translation(1.0, 0.0), 40)
    it, counter = counting(frames)
    tracks = track_windows(it, WCFG, max_windows=2, first_window_index=3)
    np.testing.assert_array_equal(tracks.window_index, [3, 4])
    assert counter[0] == STRIDE + T  # the last frame window 1 needs is frame STRIDE + T - 1
    full = track_windows(frames, WCFG)
    np.testing.assert_array_equal(tracks.velocities, full.velocities[:2])

    it, counter = counting(frames)
    assert len(track_windows(it, WCFG, max_windows=0)) == 0
    assert counter[0] == 0


def test_too_few_frames_give_an_empty_result_with_shapes(synth):
    tracks = track_windows(synth.render(synth.translation(1.0, 0.0), T - 1), WCFG)
    assert len(tracks) == 0
    assert tracks.frame_size == (320, 240)
    assert tracks.velocities.shape == (0, T - 1, WCFG.num_points, 2)
    assert tracks.frame_indices.shape == (0, T)


def test_gated_windows_keep_their_index_and_skip_flow(synth, monkeypatch):
    """Static frames, then motion: idle windows stay rows, indexes stay contiguous."""
    calls = [0]
    original = flow.DisMover.move

    def spy(self, prev, cur, points):
        calls[0] += 1
        return original(self, prev, cur, points)

    monkeypatch.setattr(flow.DisMover, "move", spy)
    static = synth.static_frames(24)
    moving = synth.render(synth.translation(2.0, 1.0), 16, seed=5)
    frames = static + [Frame(24 + k, (24 + k) / 10, f.image) for k, f in enumerate(moving)]
    tracks = track_windows(frames, WCFG, first_window_index=100)
    n = len(tracks)
    assert n == (len(frames) - T) // STRIDE + 1
    np.testing.assert_array_equal(tracks.window_index, np.arange(100, 100 + n))
    idle = tracks.frame_indices[:, -1] <= 23  # windows inside the static part
    assert idle.sum() == 3
    np.testing.assert_array_equal(tracks.gated, idle)
    assert (tracks.velocities[idle] == 0).all() and tracks.visibility[idle].all()
    assert (tracks.track_speed[idle] == 0).all() and (tracks.flow_magnitude[idle] == 0).all()
    assert (tracks.pixel_diff[idle] == 0).all()
    assert (tracks.track_speed[~idle] > 0).all() and (tracks.flow_magnitude[~idle] > 0).all()
    assert calls[0] == len(frames) - 24  # only pairs from frame 23 on are computed


def test_gate_disabled_never_gates(synth):
    tracks = track_windows(synth.static_frames(T + STRIDE), WCFG, TrackingConfig(gate_threshold=0))
    assert len(tracks) == 2 and not tracks.gated.any()
    assert np.abs(tracks.velocities).max() < 1e-3


def scene_with_local_motion(synth, count: int, pan: tuple[float, float]) -> list[Frame]:
    """A textured background panned by ``pan`` px per frame and a patch moving 4 px/frame."""
    moving_bg = synth.render(synth.translation(*pan), count)
    patch = synth.texture(48, 48, seed=9).astype(np.uint8)
    frames = []
    for k, f in enumerate(moving_bg):
        img = f.image.copy()
        x = 60 + 4 * k
        img[100:148, x : x + 48] = patch
        frames.append(Frame(f.index, f.t_sec, img))
    return frames


def test_camera_compensation_removes_global_translation(synth):
    frames = scene_with_local_motion(synth, T, pan=(2.5, -1.5))
    auto = track_windows(frames, WCFG, TrackingConfig(camera_compensation="auto"))
    off = track_windows(frames, WCFG, TrackingConfig(camera_compensation="off"))
    forced = track_windows(frames, WCFG, TrackingConfig(camera_compensation="on"))
    assert auto.camera_compensated[0] and forced.camera_compensated[0]
    assert not off.camera_compensated[0]
    assert auto.global_motion_share[0] > 0.6
    assert auto.global_motion_share[0] == off.global_motion_share[0]
    np.testing.assert_array_equal(auto.velocities, forced.velocities)
    px = np.array([320, 240]) / 2.0  # normalized -> px per step
    vis = off.visibility[0, 1:]
    raw = np.median(off.velocities[0][vis] * px, axis=0)
    np.testing.assert_allclose(raw, [2.5, -1.5], atol=0.15)
    compensated = np.median(auto.velocities[0][vis] * px, axis=0)
    np.testing.assert_allclose(compensated, [0.0, 0.0], atol=0.05)
    assert auto.track_speed[0] < 0.3 * off.track_speed[0]
    # A point seeded on the patch (72, 114) px still moves 4 - 2.5 px/step relative to the pan.
    rel = auto.velocities[0][:, 9 * WCFG.grid_size + 4] * px
    assert np.median(rel[:, 0]) == pytest.approx(1.5, abs=0.5)


def test_local_motion_is_not_compensated_in_auto_mode(synth):
    frames = scene_with_local_motion(synth, T, pan=(0.0, 0.0))
    tracks = track_windows(frames, WCFG, TrackingConfig(camera_compensation="auto"))
    assert not tracks.camera_compensated[0]
    assert tracks.global_motion_share[0] < 0.2
    assert tracks.track_speed[0] > 0


def test_rgb_and_gray_frames_give_the_same_tracks(synth):
    gray = synth.render(synth.rotation(0.5), T)
    rgb = [Frame(f.index, f.t_sec, np.repeat(f.image[..., None], 3, axis=2)) for f in gray]
    a, b = track_windows(gray, WCFG), track_windows(rgb, WCFG)
    assert a.equals(b)
    assert a.equals(track_windows(gray, WCFG)), "tracking must be deterministic"


def test_invalid_input_raises(synth):
    frames = synth.render(synth.translation(1.0, 0.0), T)
    with pytest.raises(ValueError, match="not increasing"):
        track_windows(frames[:5] + frames[3:], WCFG)
    small = Frame(99, 9.9, frames[0].image[:100])
    with pytest.raises(ValueError, match="size"):
        track_windows(frames[:5] + [small], WCFG)
    with pytest.raises(ValueError, match="max_windows"):
        track_windows(frames, WCFG, max_windows=-1)


def test_chunks_concatenate_to_contiguous_indexes(synth):
    frames = synth.render(synth.translation(1.0, 1.0), 40)
    a = track_windows(frames[:24], WCFG)
    b = track_windows(frames[len(a) * STRIDE :], WCFG, first_window_index=len(a))
    both = WindowTracks.concat([a, b])
    np.testing.assert_array_equal(both.window_index, np.arange(len(a) + len(b)))
    whole = track_windows(frames, WCFG)
    np.testing.assert_array_equal(both.frame_indices, whole.frame_indices)
    np.testing.assert_array_equal(both.velocities, whole.velocities)


def test_the_tracks_fingerprint_follows_the_frame_sampling_version(monkeypatch):
    # tracks stored when sample_indices kept other frames (version 1 lost a range's first frame
    # on 25 and 29.97 fps sources) must not be reused: their chunk markers carry the old print
    from pipeline.config import VideoConfig
    from pipeline.io import video
    from pipeline.tracks.stage import tracking_fingerprint

    cfgs = (VideoConfig(), WindowConfig(), TrackingConfig())
    now = tracking_fingerprint(*cfgs)
    monkeypatch.setattr(video, "FRAME_SAMPLING_VERSION", video.FRAME_SAMPLING_VERSION + 1)
    assert tracking_fingerprint(*cfgs) != now
