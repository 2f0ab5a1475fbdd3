"""Per-step medians, global motion share and compensation on hand-made velocity arrays."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.tracks.camera_motion import (
    compensate_camera,
    global_motion_share,
    mean_visible_speed,
    step_medians,
)


def test_step_medians_match_numpy_over_visible_points():
    rng = np.random.default_rng(0)
    for _ in range(100):
        steps, n = rng.integers(1, 6), rng.integers(1, 9)
        v = rng.normal(size=(steps, n, 2))
        vis = rng.random((steps, n)) < 0.6
        expected = [
            np.median(v[s][vis[s]], axis=0) if vis[s].any() else [0, 0] for s in range(steps)
        ]
        np.testing.assert_allclose(step_medians(v, vis), expected)


def test_uniform_motion_is_global_and_removed():
    rng = np.random.default_rng(1)
    v = np.tile(np.array([3.0, -1.0]), (15, 400, 1)) + rng.normal(0, 0.05, (15, 400, 2))
    vis = np.ones((15, 400), bool)
    vis[5:, :10] = False
    v[5:, :10] = 0.0  # lost points hold still
    out, share, applied = compensate_camera(v, vis, mode="auto", share_threshold=0.4, eps=0.05)
    assert applied and share > 0.95
    assert np.abs(np.median(out[vis], axis=0)).max() < 0.01
    assert (out[~vis] == 0).all(), "invisible points keep their zero velocity"
    off, share_off, applied_off = compensate_camera(
        v, vis, mode="off", share_threshold=0.4, eps=0.05
    )
    assert not applied_off and share_off == share
    np.testing.assert_array_equal(off, v)


def test_local_motion_is_not_global():
    v = np.zeros((15, 400, 2))
    v[:, :60] = [4.0, 2.0]  # 15 % of the points move
    vis = np.ones((15, 400), bool)
    out, share, applied = compensate_camera(v, vis, mode="auto", share_threshold=0.4, eps=0.05)
    assert not applied and share < 0.05
    np.testing.assert_array_equal(out, v)
    forced, _, applied_on = compensate_camera(v, vis, mode="on", share_threshold=0.4, eps=0.05)
    assert applied_on
    np.testing.assert_array_equal(forced, v)  # the median is zero: nothing to subtract


def test_static_share_is_zero_and_speed_ignores_invisible():
    v = np.zeros((3, 4, 2))
    vis = np.ones((3, 4), bool)
    assert global_motion_share(v, vis, step_medians(v, vis), eps=0.05) == 0.0
    v[:, 0] = [3.0, 4.0]
    vis[:, 1] = False
    v[:, 1] = [100.0, 0.0]
    assert mean_visible_speed(v, vis) == pytest.approx(5.0 / 3)
    assert mean_visible_speed(v, np.zeros_like(vis)) == 0.0


def test_unknown_mode_raises():
    with pytest.raises(ValueError, match="sideways"):
        compensate_camera(
            np.zeros((1, 1, 2)),
            np.ones((1, 1), bool),
            mode="sideways",
            share_threshold=0.4,
            eps=0.05,
        )
