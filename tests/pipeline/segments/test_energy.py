"""Latent Action Energy, step timelines, energy series, EMA."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import EnergyError
from pipeline.segments.energy import EnergySeries, ema, latent_action_energy, step_timeline


def test_lae_hand_computed() -> None:
    z = np.array([[[0.0, 0.0], [3.0, 4.0], [3.0, 4.0]], [[1.0, 1.0], [1.0, 1.0], [1.0, 2.0]]])
    np.testing.assert_allclose(latent_action_energy(z), [2.5, 0.5])


def test_lae_constant_latents_is_zero_and_rejects_bad_shape() -> None:
    assert np.all(latent_action_energy(np.ones((4, 15, 8))) == 0)
    with pytest.raises(EnergyError):
        latent_action_energy(np.ones((4, 15)))
    with pytest.raises(EnergyError):
        latent_action_energy(np.ones((4, 1, 8)))


def _two_windows() -> np.ndarray:
    z = np.zeros((2, 4, 1))
    z[0] = 1.0
    z[1] = 3.0
    return z


def test_step_timeline_averages_overlapping_windows() -> None:
    tl = step_timeline(_two_windows(), np.array([0, 1]), stride=2)
    np.testing.assert_allclose(tl.values[:, 0], [1, 1, 2, 2, 3, 3])
    np.testing.assert_array_equal(tl.coverage, [1, 1, 2, 2, 1, 1])
    np.testing.assert_allclose(tl.t_sec(fps=10.0), np.arange(6) / 10)


def test_step_timeline_gated_window_contributes_zeros() -> None:
    tl = step_timeline(_two_windows(), np.array([0, 1]), stride=2, gated=np.array([False, True]))
    np.testing.assert_allclose(tl.values[:, 0], [1, 1, 0.5, 0.5, 0, 0])


def test_step_timeline_keyed_by_window_index_with_gaps() -> None:
    tl = step_timeline(_two_windows(), np.array([0, 2]), stride=2, num_steps=10)
    np.testing.assert_allclose(tl.values[:, 0], [1, 1, 1, 1, 3, 3, 3, 3, 0, 0])
    np.testing.assert_array_equal(tl.coverage, [1, 1, 1, 1, 1, 1, 1, 1, 0, 0])


def test_step_timeline_rejects_unsorted_index() -> None:
    with pytest.raises(EnergyError, match="increasing"):
        step_timeline(_two_windows(), np.array([1, 0]), stride=2)


def test_energy_series_from_windows_centres_and_gating() -> None:
    s = EnergySeries.from_windows(
        np.array([1.0, 2.0, 3.0]),
        window_index=np.array([0, 1, 3]),
        start_sec=np.array([0.0, 0.4, 1.2]),
        end_sec=np.array([1.5, 1.9, 2.7]),
        gated=np.array([False, True, False]),
    )
    np.testing.assert_allclose(s.t_sec, [0.75, 1.15, 1.95])
    np.testing.assert_allclose(s.values, [1.0, 0.0, 3.0])
    np.testing.assert_array_equal(s.window_index, [0, 1, 3])


def test_energy_series_rejects_shape_mismatch() -> None:
    with pytest.raises(EnergyError):
        EnergySeries(np.array([0, 1]), np.array([0.0, 1.0, 2.0]), np.array([1.0, 2.0]))


def test_ema_hand_values_and_causality() -> None:
    np.testing.assert_allclose(
        ema(np.array([1.0, 0.0, 0.0, 2.0]), alpha=0.7), [1.0, 0.3, 0.09, 1.427]
    )
    x = np.random.default_rng(0).random(50)
    full = ema(x, alpha=0.7)
    for k in (1, 7, 30):
        np.testing.assert_allclose(ema(x[:k], alpha=0.7), full[:k])
    with pytest.raises(EnergyError):
        ema(x, alpha=0.0)
