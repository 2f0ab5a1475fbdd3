"""Frame-pair primitives: bilinear sampling, forward-backward check, frame preparation."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.tracks.flow import (
    DisMover,
    PairMotion,
    PreparedFrame,
    downscale,
    sample_field,
    to_gray,
)


def test_sample_field_is_bilinear_in_continuous_coordinates():
    h, w = 12, 16
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    field = np.stack([2 * xs + 1, -ys], axis=2)  # linear in array coords
    pts = np.array([[0.5, 0.5], [3.75, 2.25], [8.0, 6.5], [15.5, 11.5]])  # continuous
    got = sample_field(field, pts)
    arr = pts - 0.5
    np.testing.assert_allclose(got, np.stack([2 * arr[:, 0] + 1, -arr[:, 1]], axis=1), atol=1e-3)
    assert sample_field(field, np.zeros((0, 2))).shape == (0, 2)


def test_forward_backward_check():
    f = np.array([[3.0, 0.0], [3.0, 0.0], [10.0, 0.0], [0.0, 0.0]])
    b = np.array([[-3.0, 0.1], [0.0, 0.0], [-7.5, 0.0], [0.0, 0.0]])
    motion = PairMotion(f, b, np.array([False, False, False, True]), 1.0)
    np.testing.assert_array_equal(motion.consistent(2.0, 0.0), [True, False, False, False])
    # |f + b|^2 = 6.25 <= 0.05 * (100 + 56.25) + 1: the relative term tolerates fast motion.
    np.testing.assert_array_equal(motion.consistent(1.0, 0.05), [True, False, True, False])
    assert PairMotion.still(3).consistent(0.1, 0.0).all()


def test_dis_mover_measures_a_uniform_shift(synth):
    frames = synth.render(synth.translation(2.0, -1.0), 2)
    a, b = (PreparedFrame(f.image, downscale(f.image, 4)) for f in frames)
    pts = np.array([[100.0, 80.0], [200.0, 150.0]])
    motion = DisMover("ultrafast").move(a, b, pts)
    np.testing.assert_allclose(motion.forward, [[2.0, -1.0]] * 2, atol=0.15)
    np.testing.assert_allclose(motion.backward, [[-2.0, 1.0]] * 2, atol=0.15)
    assert motion.flow_magnitude == pytest.approx(np.hypot(2.0, 1.0), rel=0.15)


def test_frame_preparation_checks_input():
    rgb = np.zeros((8, 10, 3), np.uint8)
    rgb[..., 1] = 200
    assert to_gray(rgb).shape == (8, 10) and to_gray(rgb).max() > 100
    with pytest.raises(ValueError, match="float32"):
        to_gray(np.zeros((8, 10), np.float32))
    with pytest.raises(ValueError, match="shape"):
        to_gray(np.zeros((8, 10, 4), np.uint8))
    assert downscale(np.zeros((240, 320), np.uint8), 4).shape == (60, 80)
    assert downscale(np.zeros((320, 426), np.uint8), 4).shape == (80, 106)
    with pytest.raises(ValueError, match="preset"):
        DisMover("slow")  # type: ignore[arg-type]
