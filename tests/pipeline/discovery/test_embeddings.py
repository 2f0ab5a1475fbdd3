"""The motion_summary per-step descriptors on synthetic step velocities whose moving points
are known: where they are, which way they go and how spread out they are."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.discovery.embeddings import STEP_FEATURES, step_descriptors

GRID = 8


def grid_positions() -> np.ndarray:
    g = (np.arange(GRID) + 0.5) / GRID * 2.0 - 1.0
    gx, gy = np.meshgrid(g, g)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def descriptors(block: np.ndarray, steps=range(30, 40), speed=0.05, seed=0):
    """80 steps of small noise on every grid point; the points of ``block`` (indexes) move
    to the right at ``speed`` during ``steps``."""
    rng = np.random.default_rng(seed)
    s, n = 80, GRID * GRID
    vel = rng.normal(scale=1e-4, size=(s, n, 2)).astype(np.float32)
    for t in steps:
        vel[t, block, 0] += speed
    times = np.arange(s) * 0.1
    return step_descriptors(
        vel, np.ones(n), np.zeros(s), np.zeros(s), grid_size=GRID, times=times,
        window_centres=np.zeros(0), track_speed=np.zeros(0), flow_magnitude=np.zeros(0),
    )  # fmt: skip


def col(name: str) -> int:
    return STEP_FEATURES.index(name)


def test_spread_is_the_rms_distance_of_the_moving_points_from_their_centroid():
    pos = grid_positions()
    small = np.array([0, 1, GRID, GRID + 1])  # a 2x2 block in a corner
    big = np.array([r * GRID + c for r in range(4) for c in range(4)])  # a 4x4 block
    for block in (small, big):
        v = descriptors(block).values[35]
        p = pos[block]
        centre = p.mean(axis=0)
        np.testing.assert_allclose(v[[col("centroid_x"), col("centroid_y")]], centre, atol=1e-3)
        rms = np.sqrt(((p - centre) ** 2).sum(axis=1).mean())
        assert v[col("spread")] == pytest.approx(rms, rel=1e-3)
        assert v[col("velocity_x")] == pytest.approx(0.05, rel=0.05)
    spread = col("spread")
    assert descriptors(big).values[35, spread] > 2 * descriptors(small).values[35, spread]


def test_a_single_moving_point_has_no_spread_and_still_steps_have_none_at_all():
    v = descriptors(np.array([9])).values
    assert v[35, col("spread")] == pytest.approx(0.0, abs=1e-6)
    assert (v[:20, col("spread")] == 0).all() and (v[:20, col("centroid_x")] == 0).all()
