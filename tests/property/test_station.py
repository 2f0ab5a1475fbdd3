"""Properties of ``segment_station``: window signals of a station -> frame segments per video.

For arbitrary window signals (codes, latents, gates, speeds; videos without windows included)
and every method, each video's segments are a contiguous cover of its frames
``[0, frame_count)``; a calibrated station labels them ``active``/``idle``, an uncalibrated one
never ``active``.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.io.video import source_index
from pipeline.segments.config import SegmentationConfig
from pipeline.segments.segfile import IDLE_LABEL
from pipeline.segments.segmenters import ACTIVE_LABEL, UNCALIBRATED_LABEL
from pipeline.segments.signals import VideoSignals, codes_to_latents
from pipeline.segments.station import segment_station


@st.composite
def video_signals(draw, name: str) -> VideoSignals:
    fps = draw(st.sampled_from([10.0, 25.0, 29.97, 30.0]))
    target = 10.0
    stride = draw(st.integers(1, 4))
    steps = draw(st.integers(max(2, stride), 8))  # T - 1 tokens per window, T >= stride
    idx = np.asarray(sorted(draw(st.sets(st.integers(0, 40), max_size=30))), np.int64)
    w = idx.size
    levels = draw(st.lists(st.integers(2, 8), min_size=1, max_size=3))
    size = int(np.prod(levels))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["random", "still", "blocks"]))
    if kind == "still":  # one code everywhere: zero energy, constant speed
        codes = np.full((w, steps), draw(st.integers(0, size - 1)), np.int16)
        speed = np.full(w, draw(st.floats(0, 5)))
    elif kind == "blocks":  # idle and active stretches
        active = rng.random(w) < 0.5
        codes = np.where(active[:, None], rng.integers(0, size, (w, steps)), 0).astype(np.int16)
        speed = np.where(active, 5.0, 0.1) + rng.random(w) * 0.01
    else:
        codes = rng.integers(0, size, (w, steps)).astype(np.int16)
        speed = rng.random(w) * draw(st.floats(0, 100))
    last = source_index(int(idx[-1]) * stride + steps, fps, target) if w else 0
    frame_count = last + 1 + draw(st.integers(0, 30))
    return VideoSignals(
        video_id=name,
        fps=fps,
        target_fps=target,
        stride=stride,
        frame_count=frame_count,
        window_index=idx,
        start_sec=np.array([source_index(int(i) * stride, fps, target) / fps for i in idx]),
        end_sec=np.array([source_index(int(i) * stride + steps, fps, target) / fps for i in idx]),
        gated=rng.random(w) < draw(st.floats(0, 1)),
        codes=codes,
        z_q=codes_to_latents(codes, levels).reshape(w, steps, len(levels)),
        z_pre=rng.normal(size=(w, steps, len(levels))).astype(np.float32),
        stats={
            "track_speed": speed,
            "flow_magnitude": rng.random(w),
            "pixel_diff": rng.random(w),
        },
    )


@st.composite
def stations(draw) -> dict[str, VideoSignals]:
    n = draw(st.integers(1, 3))
    return {f"v{i}": draw(video_signals(f"v{i}")) for i in range(n)}


configs = st.builds(
    SegmentationConfig,
    method=st.sampled_from(["changepoint", "combined", "hysteresis"]),
    features=st.sampled_from([("zq",), ("zpre", "track_speed"), ("flow", "zq")]),
    up=st.integers(1, 3),
    down=st.integers(1, 3),
    min_len=st.integers(1, 4),
    max_len_sec=st.none() | st.floats(0.5, 5.0),
    calibration_transform=st.sampled_from(["none", "log"]),
)


@settings(max_examples=max(10, settings.default.max_examples // 2))
@given(stations(), configs)
def test_station_segments_cover_every_frame_with_allowed_labels(videos, cfg):
    result = segment_station(videos, cfg)
    assert set(result.videos) == set(videos)
    allowed = {ACTIVE_LABEL, IDLE_LABEL} if result.calibrated else {IDLE_LABEL, UNCALIBRATED_LABEL}
    for key, v in videos.items():
        segs = result.videos[key].segments
        assert segs[0].start_frame == 0 and segs[-1].end_frame == v.frame_count
        for a, b in zip(segs[:-1], segs[1:], strict=True):
            assert a.end_frame == b.start_frame
        for s in segs:
            assert s.end_frame > s.start_frame and s.label in allowed, (s, result.calibration)
        if v.window_index.size == 0:
            assert [s.label for s in segs] == [IDLE_LABEL]
    if result.calibrated:
        assert result.thr_on > 0 and result.thr_off <= result.thr_on
    else:
        assert result.calibration["error"]
