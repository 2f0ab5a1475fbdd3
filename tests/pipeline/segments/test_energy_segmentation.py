"""calibrated_hysteresis: label-free thresholds, active spans, determinism, input checks."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.errors import CalibrationError, EnergySegmentationError
from pipeline.segments.energy import EnergySeries
from pipeline.segments.energy_segmentation import DEFAULT_PARAMS, calibrated_hysteresis
from pipeline.segments.segmenters import HysteresisParams

N = 50
TIMES = 0.75 + 0.4 * np.arange(N)  # window centres: stride 0.4 s, 1.5 s windows


def _series(level: float, lo: int, hi: int, name: str = "lae") -> EnergySeries:
    v = np.zeros(N)
    v[lo:hi] = level
    return EnergySeries(np.arange(N), TIMES, v, name)


def _spans(run_video: object) -> list[tuple[float, float, str | None]]:
    return [(s.start_sec, s.end_sec, s.label) for s in run_video.segments]  # type: ignore[attr-defined]


def test_bimodal_energy_exact_spans() -> None:
    # Two-level energy: Otsu splits 0 from 1; EMA (a=0.7) is 0.7, 0.91, ... inside and
    # 0.3, 0.09, ... after; the best-F1 cut lies between 0.3 and 0.7 -> thr_on = 0.5.
    energies = {"a": _series(1.0, 10, 30), "b": _series(1.0, 10, 30)}
    run = calibrated_hysteresis(energies, {"a": 20.0, "b": 20.0})
    assert run.thr_on == pytest.approx(0.5)
    assert run.thr_off == pytest.approx(0.475)
    assert run.calibration.method == "otsu" and run.calibration.skipped == ()
    # start: first of 2 windows above 0.5 (window 10); end: first of 2 below 0.475 (window 30)
    assert _spans(run.videos["a"]) == [
        (0.0, pytest.approx(TIMES[10]), "idle"),
        (pytest.approx(TIMES[10]), pytest.approx(TIMES[30]), "active"),
        (pytest.approx(TIMES[30]), 20.0, "idle"),
    ]
    assert run.videos["a"].smoothed[10] == pytest.approx(0.7)
    assert run.params.max_len_sec is None and run.params.alpha == DEFAULT_PARAMS.alpha


def test_station_threshold_is_the_median() -> None:
    # video b alone would give thr 1.0 (levels 0/2: EMA 1.4 inside, 0.6 after); median 0.75
    energies = {"a": _series(1.0, 10, 30), "b": _series(2.0, 20, 40)}
    run = calibrated_hysteresis(energies, {"a": 20.0, "b": 20.0})
    assert [v.thr_on for v in run.calibration.per_video] == pytest.approx([0.5, 1.0])
    assert run.thr_on == pytest.approx(0.75)
    # a: EMA 0.7 at window 10 is below 0.75, so the run starts at window 11
    assert run.videos["a"].active[0].start_sec == pytest.approx(TIMES[11])
    assert run.videos["b"].active[0].start_sec == pytest.approx(TIMES[20])
    assert run.videos["b"].active[0].end_sec == pytest.approx(TIMES[40])


def test_noisy_bimodal_finds_spans_and_is_deterministic() -> None:
    rng = np.random.default_rng(3)
    energies, truth = {}, {}
    for k, (lo, hi) in enumerate([(5, 20), (25, 45), (12, 30)]):
        v = 0.1 + 0.02 * rng.standard_normal(N)
        v[lo:hi] += 1.0
        energies[f"v{k}"] = EnergySeries(np.arange(N), TIMES, v, "flow_magnitude")
        truth[f"v{k}"] = (TIMES[lo], TIMES[hi])
    durations = dict.fromkeys(energies, 21.0)
    run = calibrated_hysteresis(energies, durations, calibration_method="gmm")
    for key, (a, b) in truth.items():
        (seg,) = run.videos[key].active
        assert abs(seg.start_sec - a) <= 0.4 and abs(seg.end_sec - b) <= 0.8
    again = calibrated_hysteresis(
        dict(reversed(energies.items())), durations, calibration_method="gmm"
    )
    assert again.thr_on == run.thr_on
    assert again.segments == run.segments
    meta = run.segment_meta()
    assert meta["segmenter"] == "flow_magnitude_hysteresis"
    assert meta["calibration"]["method"] == "gmm"
    assert meta["hysteresis"]["thr_on"] == run.thr_on


def test_params_are_used_but_thr_on_is_calibrated() -> None:
    params = HysteresisParams.model_validate({"thr_on": 99.0, "max_len_sec": 2.0, "min_len": 2})
    run = calibrated_hysteresis({"a": _series(1.0, 10, 30)}, {"a": 20.0}, params=params)
    assert run.thr_on == pytest.approx(0.5)
    starts = [s.start_sec for s in run.videos["a"].active]
    assert len(starts) > 1 and starts[0] == pytest.approx(TIMES[10])  # the 2 s cap tiles it
    assert all(s.duration_sec <= 2.0 + 0.4 + 1e-9 for s in run.videos["a"].active)


def test_gated_windows_are_idle_and_empty_video_is_all_idle() -> None:
    gate = np.zeros(N, dtype=bool)
    gate[10:30] = True  # the whole active span of "b" is gated
    energies = {
        "a": _series(1.0, 10, 30),
        "b": _series(1.0, 10, 30),
        "empty": EnergySeries(np.arange(0), np.zeros(0), np.zeros(0), "lae"),
    }
    run = calibrated_hysteresis(energies, {"a": 20.0, "b": 20.0, "empty": 5.0}, gated={"b": gate})
    assert run.videos["b"].active == ()
    assert len(run.videos["a"].active) == 1
    assert _spans(run.videos["empty"]) == [(0.0, 5.0, "idle")]
    assert run.videos["b"].energy[15] == 0.0
    seg_file = run.videos["a"].to_segment_file(video="a.mp4", fps=10.0)
    assert seg_file.duration_sec == 20.0 and seg_file.segments[-1].end_sec == 20.0


def test_bad_inputs_raise() -> None:
    with pytest.raises(EnergySegmentationError, match="duration"):
        calibrated_hysteresis({"a": _series(1.0, 10, 30)}, {})
    with pytest.raises(EnergySegmentationError, match="mixed"):
        calibrated_hysteresis(
            {"a": _series(1.0, 10, 30), "b": _series(1.0, 10, 30, "pixel_diff")},
            {"a": 20.0, "b": 20.0},
        )
    with pytest.raises(EnergySegmentationError, match="speed shape"):
        calibrated_hysteresis({"a": _series(1.0, 10, 30)}, {"a": 20.0}, speeds={"a": np.ones(3)})
    with pytest.raises(CalibrationError):  # constant energy: no usable video
        calibrated_hysteresis({"a": _series(0.0, 0, 0)}, {"a": 20.0})
