"""Properties of the segmenters and of what turns energy curves into segments.

For arbitrary finite curves and configs within their documented ranges: segments are ordered,
non-empty, inside the video and (after idle filling) contiguous over ``[0, duration]`` with
labels from ``{"active", "idle"}``; degenerate curves (constant, all zero, one window) raise at
most the documented errors.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st
from property.strategies import (
    LABELS,
    assert_contiguous_cover,
    energy_curves,
    finite,
    increasing_times,
    segmentations,
)

from pipeline.errors import CalibrationError, SegmenterError
from pipeline.segments.calibration import (
    CalibrationInput,
    best_f1_threshold,
    calibrate_station,
    otsu_threshold,
    pseudo_labels,
)
from pipeline.segments.energy import EnergySeries, ema
from pipeline.segments.energy_segmentation import calibrated_hysteresis
from pipeline.segments.segfile import IDLE_LABEL, Segment, fill_gaps, segment_problems
from pipeline.segments.segmenters import (
    ACTIVE_LABEL,
    ChangePointSegmenter,
    CombinedSegmenter,
    HysteresisParams,
    HysteresisSegmenter,
    bkps_to_spans,
    hysteresis_spans,
    split_at,
)
from pipeline.segments.station import to_frames


@st.composite
def hysteresis_params(draw) -> HysteresisParams:
    """Any ``HysteresisParams`` inside the documented field ranges."""
    return HysteresisParams(
        thr_on=draw(st.floats(1e-6, 1e4)),
        max_len_sec=draw(st.none() | st.floats(0.01, 30.0)),
        alpha=draw(st.floats(1e-3, 1.0)),
        off_ratio=draw(st.floats(1e-3, 1.0)),
        up=draw(st.integers(1, 5)),
        down=draw(st.integers(1, 5)),
        cooldown=draw(st.integers(0, 5)),
        min_len=draw(st.integers(1, 6)),
    )


def _end_after(times: np.ndarray, extra: float) -> float:
    return float(times[-1]) + extra


# --- hysteresis ---------------------------------------------------------------------------
@given(energy_curves(), hysteresis_params(), st.floats(1e-3, 5.0))
@example(  # a cap shorter than the debounce: the first tile is the whole debounce run
    (np.full(6, 5.0), np.arange(6, dtype=float)),
    HysteresisParams(thr_on=1.0, max_len_sec=0.5, up=3, min_len=1),
    1.0,
)
def test_hysteresis_spans_are_ordered_disjoint_and_long_enough(curve, params, extra):
    energy, times = curve
    end = _end_after(times, extra)
    seg = HysteresisSegmenter.from_params(params).fit(energy, times, end_sec=end)
    spans = seg.predict_index()
    assert spans == hysteresis_spans(ema(energy, alpha=params.alpha), times, params)
    n = energy.size
    for i, j in spans:
        assert 0 <= i < j <= n
        assert j - i >= params.min_len
        if params.max_len_sec is not None:  # the cap is checked from the first active window on
            assert j - i <= params.up or times[j - 1] - times[i] < params.max_len_sec
    for (_, j0), (i1, _) in zip(spans[:-1], spans[1:], strict=True):
        assert j0 <= i1  # ordered; a cap cut touches (j0 == i1), nothing overlaps
    # the state machine sees the segmenter's own smoothing: nothing starts below thr_on
    smoothed = seg.smoothed_
    assert smoothed is not None and np.allclose(smoothed, ema(energy, alpha=params.alpha))
    if np.all(smoothed <= params.thr_on):
        assert spans == []


@given(energy_curves(), hysteresis_params(), st.floats(1e-3, 5.0))
def test_hysteresis_segments_filled_cover_the_video(curve, params, extra):
    energy, times = curve
    end = _end_after(times, extra)
    active = HysteresisSegmenter.from_params(params).fit(energy, times, end_sec=end).predict()
    for a, b in zip(active[:-1], active[1:], strict=True):
        assert a.end_sec <= b.start_sec
    for s in active:
        assert times[0] <= s.start_sec < s.end_sec <= end
        assert s.label == ACTIVE_LABEL
    filled = fill_gaps(active, duration_sec=end)
    assert_contiguous_cover(filled, 0.0, end)
    kept = [s for s in filled if s.label == ACTIVE_LABEL]
    assert [s.end_sec for s in kept] == [s.end_sec for s in active]
    assert np.allclose([s.start_sec for s in kept], [s.start_sec for s in active], atol=1e-6)


@given(
    st.integers(1, 40),
    st.floats(0.0, 1e6),
    hysteresis_params(),
)
def test_hysteresis_constant_energy(n, level, params):
    """Constant energy: one span over everything when it is above thr_on long enough (and no
    cap), nothing when it is not above thr_on."""
    times = np.arange(n, dtype=float)
    spans = HysteresisSegmenter.from_params(params).fit(np.full(n, level), times).predict_index()
    if level <= params.thr_on:
        assert spans == []
    elif params.max_len_sec is None and n >= max(params.up, params.min_len):
        assert spans == [(0, n)]


@pytest.mark.parametrize(
    ("signal", "times", "match"),
    [
        (np.array([]), np.array([]), "n > 0"),
        (np.array([1.0, np.nan]), np.array([0.0, 1.0]), "non-finite"),
        (np.array([1.0, np.inf]), np.array([0.0, 1.0]), "non-finite"),
        (np.array([1.0, 2.0]), np.array([1.0, 1.0]), "increase strictly"),
        (np.array([1.0, 2.0]), np.array([0.0]), "does not match"),
    ],
)
def test_segmenters_reject_bad_input_with_documented_error(signal, times, match):
    with pytest.raises(SegmenterError, match=match):
        HysteresisSegmenter(thr_on=1.0, max_len_sec=None).fit(signal, times)
    with pytest.raises(SegmenterError, match=match):
        ChangePointSegmenter().fit(signal, times)


# --- change points ------------------------------------------------------------------------
@st.composite
def feature_signals(draw, *, max_n: int = 90, max_d: int = 3):
    n = draw(st.integers(1, max_n))
    d = draw(st.integers(1, max_d))
    kind = draw(st.sampled_from(["any", "constant", "steps", "zero"]))
    if kind == "any":
        x = np.asarray(draw(st.lists(finite, min_size=n * d, max_size=n * d))).reshape(n, d)
    elif kind == "constant":
        x = np.tile(np.asarray(draw(st.lists(finite, min_size=d, max_size=d))), (n, 1))
    elif kind == "zero":
        x = np.zeros((n, d))
    else:  # piecewise constant with a little noise: what change points are for
        levels = np.asarray(draw(st.lists(st.floats(-10, 10), min_size=1, max_size=5)))
        which = np.sort(draw(st.lists(st.integers(0, levels.size - 1), min_size=n, max_size=n)))
        noise = np.random.default_rng(draw(st.integers(0, 2**16))).normal(0, 0.1, (n, d))
        x = levels[which][:, None] + noise
    return x, draw(increasing_times(n))


changepoint_configs = st.fixed_dictionaries(
    {
        "rule": st.sampled_from(["consensus", "noise_gain", "knee"]),
        "min_size_sec": st.floats(0.05, 3.0),
        "beta": st.floats(0.5, 50.0),
        "tail_sec": st.floats(0.1, 3.0),
        "per_decade": st.integers(2, 8),
        "knee_min": st.floats(0.0, 20.0),
        "standardize": st.booleans(),
    }
)


@given(feature_signals(), changepoint_configs, st.floats(1e-3, 5.0))
@example(  # a single sample
    (np.array([[3.0]]), np.array([0.0])),
    {"rule": "consensus", "min_size_sec": 0.5, "beta": 12.0, "tail_sec": 1.0,
     "per_decade": 6, "knee_min": 8.0, "standardize": True},
    1.0,
)  # fmt: skip
def test_changepoint_segments_are_contiguous_and_long_enough(sig, cfg, extra):
    x, times = sig
    end = _end_after(times, extra)
    seg = ChangePointSegmenter(**cfg).fit(x, times, end_sec=end)
    bkps = seg.predict_bkps()
    n = x.shape[0]
    assert bkps[-1] == n and all(a < b for a, b in zip(bkps[:-1], bkps[1:], strict=True))
    spans = bkps_to_spans(bkps, n)
    if len(spans) > 1:
        assert all(j - i >= seg.min_size_ for i, j in spans)
    segs = seg.predict()
    assert_contiguous_cover(segs, float(times[0]), end, labels=None)
    assert np.array_equal(seg.change_times(), [s.start_sec for s in segs[1:]])


@given(feature_signals(max_n=60), st.integers(0, 8), st.floats(0.05, 2.0))
def test_changepoint_fixed_count_is_exact_or_a_documented_error(sig, n_bkps, min_size_sec):
    x, times = sig
    seg = ChangePointSegmenter(rule="fixed", n_bkps=n_bkps, min_size_sec=min_size_sec)
    try:
        seg.fit(x, times)
    except SegmenterError as err:
        assert "impossible" in str(err)
        return
    bkps = seg.predict_bkps()
    # no change point at all when there is nothing to cut (constant features, too short)
    assert len(bkps) - 1 in (n_bkps, 0)


@given(feature_signals(max_n=40, max_d=2), st.floats(1e-3, 2.0))
def test_changepoint_rbf_kernel_segments_are_contiguous(sig, extra):
    x, times = sig
    end = _end_after(times, extra)
    segs = ChangePointSegmenter(kernel="rbf", rule="knee").fit(x, times, end_sec=end).predict()
    assert_contiguous_cover(segs, float(times[0]), end, labels=None)


# --- combined -----------------------------------------------------------------------------
@st.composite
def combined_inputs(draw):
    """Energy at window centres and features at step starts of the same video."""
    dt_step = draw(st.sampled_from([0.1, 0.2, 0.5]))
    n_steps = draw(st.integers(1, 80))
    step_times = dt_step * np.arange(n_steps, dtype=float)
    d = draw(st.integers(1, 3))
    feats = np.asarray(
        draw(st.lists(st.floats(-100, 100), min_size=n_steps * d, max_size=n_steps * d))
    ).reshape(n_steps, d)
    n_win = draw(st.integers(1, max(1, n_steps)))
    win_times = np.linspace(0.0, step_times[-1], n_win) + draw(st.floats(0.0, 0.5))
    win_times = np.unique(win_times)
    energy = np.asarray(draw(st.lists(st.floats(0, 10), min_size=win_times.size,
                                      max_size=win_times.size)))  # fmt: skip
    end = max(float(step_times[-1]), float(win_times[-1])) + draw(st.floats(1e-3, 2.0))
    return energy, win_times, feats, step_times, end


@given(combined_inputs(), hysteresis_params(), st.floats(0.0, 3.0),
       st.sampled_from(["consensus", "knee", "noise_gain"]))  # fmt: skip
def test_combined_segments_cover_the_video(inputs, params, edge_sec, rule):
    energy, win_t, feats, step_t, end = inputs
    seg = CombinedSegmenter(
        gate=HysteresisSegmenter.from_params(params),
        changepoints=ChangePointSegmenter(rule=rule, min_size_sec=0.3),
        edge_sec=edge_sec,
    )
    segs = seg.fit(energy, win_t, feats, step_t, end_sec=end).predict()
    assert_contiguous_cover(segs, 0.0, end)
    for a, b in zip(segs[:-1], segs[1:], strict=True):
        assert not (a.label == IDLE_LABEL and b.label == IDLE_LABEL), (a, b)
    assert segment_problems(segs, fps=10.0, duration_sec=end) == []


@given(
    st.floats(0.0, 50.0),
    st.floats(0.01, 50.0),
    st.lists(st.floats(0.0, 120.0), max_size=12),
    st.floats(0.0, 5.0),
)
def test_split_at_pieces_are_ordered_and_inside_the_snapped_edges(start, length, cuts, edge):
    seg = Segment(start, start + length, ACTIVE_LABEL)
    pieces = split_at(seg, np.asarray(cuts, dtype=float), edge_sec=edge)
    for a, b in zip(pieces[:-1], pieces[1:], strict=True):
        assert a.end_sec == b.start_sec
    for p in pieces:
        assert p.end_sec > p.start_sec and p.label == ACTIVE_LABEL
        assert seg.start_sec - edge <= p.start_sec and p.end_sec <= seg.end_sec + edge


# --- calibration and the station's energy segmentation -----------------------------------
@given(
    st.lists(st.floats(-1e6, 1e6), min_size=2, max_size=60),
    st.data(),
)
@example([0.0, 0.0, 5.0, 5.0], None)
def test_best_f1_threshold_never_keeps_every_window(smoothed, data):
    """The issue's negative threshold: the chosen cut lies strictly between two distinct
    smoothed values, so ``[s > thr]`` is never empty and never everything."""
    s = np.asarray(smoothed)
    n = s.size
    labels = (
        s > np.median(s) if data is None
        else np.asarray(data.draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    )  # fmt: skip
    assume(0 < labels.sum() < n)
    try:
        thr, f1 = best_f1_threshold(s, labels)
    except CalibrationError as err:
        assert np.ptp(s) == 0, err  # documented: only when every smoothed value is equal
        return
    assert s.min() < thr < s.max()
    assert 0.0 <= f1 <= 1.0
    above = s > thr
    assert 0 < above.sum() < n


# near-constant samples: numpy cannot make 256 bins of such a range (ValueError, not the
# documented CalibrationError: one such video stopped its whole station's calibration)
NEAR_CONSTANT = [1.0, 1.0 + 2.0**-52, 1.0]


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=80))
@example(NEAR_CONSTANT)
@example([0.0, 5e-324])
def test_otsu_splits_any_nonconstant_sample_or_raises_calibration_error(values):
    v = np.asarray(values)
    try:
        thr = otsu_threshold(v)
    except CalibrationError:
        return
    assert v.min() < thr < v.max()
    labels, back = pseudo_labels(v)
    assert 0 < labels.sum() < v.size and back == thr


@given(st.lists(energy_curves(min_n=1, max_n=40), min_size=1, max_size=4),
       st.sampled_from(["none", "log"]))  # fmt: skip
@example([(np.array(NEAR_CONSTANT), np.arange(3.0)), (np.array([0.0, 4, 4, 0]), np.arange(4.0))],
         "none")  # fmt: skip
def test_calibrate_station_gives_a_positive_threshold_or_calibration_error(curves, transform):
    items = [CalibrationInput(energy=e, name=f"v{i}") for i, (e, _) in enumerate(curves)]
    try:
        cal = calibrate_station(items, transform=transform)
    except CalibrationError:
        return
    assert cal.thr_on > 0 and cal.thr_off == pytest.approx(cal.off_ratio * cal.thr_on)
    assert len(cal.per_video) + len(cal.skipped) == len(items)
    for v in cal.per_video:
        smoothed = ema(curves[int(v.name[1:])][0], alpha=cal.alpha)
        assert smoothed.min() < v.thr_on < smoothed.max()
        assert 0.0 <= v.f1 <= 1.0 and 0.0 < v.active_fraction < 1.0


@given(st.lists(energy_curves(min_n=0, max_n=40), min_size=1, max_size=4), st.data())
def test_calibrated_hysteresis_covers_each_video_or_raises_calibration_error(curves, data):
    energies, durations = {}, {}
    for i, (e, t) in enumerate(curves):
        energies[f"v{i}"] = EnergySeries(np.arange(e.size), t, e)
        durations[f"v{i}"] = (float(t[-1]) if t.size else 0.0) + data.draw(st.floats(1e-3, 5.0))
    try:
        run = calibrated_hysteresis(energies, durations)
    except CalibrationError:
        return
    assert run.thr_on > 0
    for key, video in run.videos.items():
        assert_contiguous_cover(list(video.segments), 0.0, durations[key])
        video.to_segment_file(video=f"{key}.mp4", fps=10.0)  # validates


# --- seconds -> source frames -------------------------------------------------------------
@given(segmentations(), st.sampled_from([5.0, 10.0, 24.0, 29.97, 30.0, 60.0]), st.data())
def test_to_frames_is_a_contiguous_cover_of_the_frames(seg_d, fps, data):
    segs, d = seg_d
    frame_count = max(1, int(round(d * fps)) + data.draw(st.integers(-3, 3)))
    frames = to_frames(segs, fps=fps, frame_count=frame_count)
    assert frames[0].start_frame == 0 and frames[-1].end_frame == frame_count
    for a, b in zip(frames[:-1], frames[1:], strict=True):
        assert a.end_frame == b.start_frame
    assert all(f.end_frame > f.start_frame and f.label in LABELS for f in frames)


@given(segmentations(contiguous=False))
def test_fill_gaps_keeps_the_segments_and_covers_the_duration(seg_d):
    segs, d = seg_d
    filled = fill_gaps(segs, duration_sec=d)
    assert_contiguous_cover(filled, 0.0, d)
    assert segment_problems(filled, fps=10.0, duration_sec=d) == []
    spans = {(s.start_sec, s.end_sec, s.label) for s in filled}
    for s in segs:  # on a 0.01 s grid: every input segment survives unchanged
        assert (s.start_sec, s.end_sec, s.label) in spans
