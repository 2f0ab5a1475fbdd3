"""Label-free threshold calibration: Otsu / GMM pseudo-labels, F1-optimal thr_on, median."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import CalibrationError
from pipeline.segments.calibration import (
    CalibrationInput,
    best_f1_threshold,
    calibrate_station,
    calibrate_video,
    otsu_threshold,
    pseudo_labels,
)
from pipeline.segments.energy import ema


def _bimodal(seed: int, n_blocks: int = 20) -> CalibrationInput:
    """Alternating idle / active blocks of 10-30 windows; speed and energy both bimodal."""
    rng = np.random.default_rng(seed)
    active = np.concatenate(
        [np.full(int(rng.integers(10, 30)), i % 2 == 1) for i in range(n_blocks)]
    )
    energy = np.where(active, 1.0, 0.15) + rng.normal(0, 0.05, active.size)
    speed = np.where(active, 3.0, 0.3) * rng.lognormal(0, 0.15, active.size)
    return CalibrationInput(energy=np.abs(energy), speed=speed, name=f"v{seed}")


def test_otsu_separates_two_modes() -> None:
    v = np.concatenate([np.full(100, 1.0), np.full(50, 5.0)])
    assert 1.0 < otsu_threshold(v) < 5.0
    with pytest.raises(CalibrationError):
        otsu_threshold(np.ones(10))


def test_best_f1_threshold_hand_example() -> None:
    thr, f1 = best_f1_threshold(np.array([0.1, 0.2, 0.8, 0.9]), np.array([0, 0, 1, 1], bool))
    assert thr == pytest.approx(0.5) and f1 == 1.0
    thr, f1 = best_f1_threshold(np.array([0.1, 0.6, 0.5, 0.9]), np.array([0, 0, 1, 1], bool))
    assert f1 == pytest.approx(0.8) and thr == pytest.approx(0.3)  # top 3 > 0.3: tp 2 of 3
    with pytest.raises(CalibrationError, match="one class"):
        best_f1_threshold(np.arange(4.0), np.zeros(4, bool))


@pytest.mark.parametrize("method", ["otsu", "gmm"])
def test_bimodal_threshold_is_between_modes_on_the_smoothed_signal(method: str) -> None:
    item = _bimodal(0)
    res = calibrate_video(item, method=method)  # type: ignore[arg-type]
    assert 0.2 < res.thr_on < 0.95 and res.f1 > 0.9
    assert 0.3 < res.active_fraction < 0.7
    labels, _ = pseudo_labels(item.speed, method=method)  # type: ignore[arg-type]
    y = ema(item.energy, alpha=0.7)
    f1_at = 2 * np.sum((y > res.thr_on) & labels) / (np.sum(y > res.thr_on) + labels.sum())
    assert f1_at == pytest.approx(res.f1)


def test_station_median_determinism_and_skips() -> None:
    videos = [_bimodal(s) for s in range(5)]
    flat = CalibrationInput(energy=np.ones(50), speed=np.ones(50), name="flat")
    a = calibrate_station([*videos, flat])
    b = calibrate_station([*videos, flat])
    assert a == b
    assert a.thr_on == pytest.approx(np.median([v.thr_on for v in a.per_video]))
    assert a.thr_off == pytest.approx(0.95 * a.thr_on)
    assert len(a.per_video) == 5 and a.skipped and a.skipped[0].startswith("flat")
    with pytest.raises(CalibrationError, match="no usable video"):
        calibrate_station([flat])


def test_gated_windows_count_as_idle_and_log_transform() -> None:
    item = _bimodal(1)
    gated = np.zeros(item.energy.size, bool)
    gated[:5] = True
    res = calibrate_video(CalibrationInput(item.energy, item.speed, gated, "g"), transform="log")
    assert 0.2 < res.thr_on < 0.95
    assert 0.3 < res.pseudo_threshold < 3.0  # back in speed units
    with pytest.raises(CalibrationError, match="shapes"):
        calibrate_video(CalibrationInput(np.ones(5), np.ones(6)))


def test_a_threshold_that_keeps_every_window_is_never_chosen() -> None:
    # keeping all four windows has the best F1 (6/7), but a threshold below every energy marks
    # the whole video active: the best real cut (the top three) is chosen instead
    smoothed, labels = np.array([0.1, 0.2, 0.3, 0.4]), np.array([1, 1, 1, 0], bool)
    thr, f1 = best_f1_threshold(smoothed, labels)
    assert thr == pytest.approx(0.15) and f1 == pytest.approx(2 / 3)
    with pytest.raises(CalibrationError, match="no threshold"):
        best_f1_threshold(np.full(4, 0.2), labels)
