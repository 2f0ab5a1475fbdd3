"""``clips.fps``: clips at a lower rate than the source hold the frames the step grid keeps
(``sample_indices``), at a constant ``clips.fps``; null (the default) keeps the source's rate."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import av
import pytest
from videogen import decode_index, make_video

from pipeline.io.storage import LocalStorage
from pipeline.io.video import count_frames, probe_video, sample_indices
from pipeline.segments.clips import ClipConfig, ClipSpec, write_clips


def _frames_and_times(path: Path) -> tuple[list[int], list[float], Fraction]:
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        frames = list(c.decode(s))
        return (
            [decode_index(f.to_ndarray(format="gray")) for f in frames],
            [float(f.pts * f.time_base) for f in frames],
            s.average_rate,
        )


@pytest.mark.parametrize("fps", [30.0, 30000 / 1001, 25.0])
def test_clips_at_10_hz_hold_the_step_grid_frames(tmp_path, fps):
    src = make_video(tmp_path / "src.mp4", frames=200, fps=fps)
    store = LocalStorage(tmp_path / "store")
    ranges = [(0, 30), (30, 31), (45, 107), (150, 200)]
    specs = [ClipSpec(f"clips/c{a}-{b}.mp4", a, b) for a, b in ranges]
    cfg = ClipConfig(fps=10.0)
    status = write_clips(store, src, specs, fps=fps, width=320, height=240, config=cfg)
    assert status == {s.key: "written" for s in specs}
    for spec in specs:
        path = Path(store.uri(spec.key))
        want = list(sample_indices(fps, 10.0, spec.start_frame, spec.end_frame))
        assert want == cfg.frame_indexes(fps, spec.start_frame, spec.end_frame)
        shown, times, rate = _frames_and_times(path)
        assert shown == want and count_frames(path) == len(want)
        assert rate == 10
        assert times == pytest.approx([k / 10 for k in range(len(want))], abs=1e-3)
        assert probe_video(path).duration_sec == pytest.approx(len(want) / 10, abs=1e-3)
    record = json.loads(store.read_bytes("clips/clips.json"))
    assert record["fps"] == 10.0


def test_a_range_without_a_frame_at_the_clip_rate_fails_alone(tmp_path):
    src = make_video(tmp_path / "src.mp4", frames=60, fps=30.0)
    store = LocalStorage(tmp_path / "store")
    specs = [ClipSpec("clips/ok.mp4", 0, 20), ClipSpec("clips/none.mp4", 31, 33)]  # 30, 33 kept
    status = write_clips(store, src, specs, fps=30.0, width=320, height=240,
                         config=ClipConfig(fps=10.0))  # fmt: skip
    assert status["clips/ok.mp4"] == "written"
    assert status["clips/none.mp4"] == (
        "failed: clips/none.mp4: no frame of [31, 33) at clips.fps=10"
    )
    assert not store.exists("clips/none.mp4")


def test_a_rate_at_or_above_the_sources_changes_no_frame(tmp_path):
    src = make_video(tmp_path / "src.mp4", frames=40, fps=30.0)
    spec = ClipSpec("clips/a.mp4", 3, 37)
    clips = {}
    for name, cfg in {"null": ClipConfig(), "30": ClipConfig(fps=30.0),
                      "60": ClipConfig(fps=60.0)}.items():  # fmt: skip
        store = LocalStorage(tmp_path / name)
        assert write_clips(store, src, [spec], fps=30.0, width=320, height=240,
                           config=cfg) == {spec.key: "written"}  # fmt: skip
        assert cfg.rate(30.0) == 30.0
        clips[name] = Path(store.uri(spec.key)).read_bytes()
    assert clips["null"] == clips["30"] == clips["60"]  # the same frames at the same rate


def test_changing_the_clip_rate_rewrites_the_clips(tmp_path):
    src = make_video(tmp_path / "src.mp4", frames=30, fps=30.0)
    store = LocalStorage(tmp_path / "store")
    specs = [ClipSpec("clips/v/a.mp4", 0, 30)]
    args = dict(fps=30.0, width=320, height=240)
    assert write_clips(store, src, specs, **args) == {"clips/v/a.mp4": "written"}
    assert count_frames(store.uri("clips/v/a.mp4")) == 30
    ten = ClipConfig(fps=10.0)
    assert write_clips(store, src, specs, config=ten, **args) == {"clips/v/a.mp4": "written"}
    assert count_frames(store.uri("clips/v/a.mp4")) == 10
    assert write_clips(store, src, specs, config=ten, **args) == {"clips/v/a.mp4": "kept"}
    assert ClipConfig().fingerprint() != ten.fingerprint()  # the segments code version
