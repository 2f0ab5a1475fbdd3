"""Clip settings (``ClipConfig``): the short side, x264 preset and threads, their record."""

from __future__ import annotations

import json

import pytest
from videogen import make_video

from pipeline.io.storage import LocalStorage
from pipeline.io.video import count_frames, probe_video
from pipeline.segments.clips import ClipConfig, ClipSpec, write_clips


def test_size_scales_down_to_the_short_side_and_never_up():
    cfg = ClipConfig()
    assert cfg.short_side == 256
    assert cfg.size(640, 480) == (342, 256)
    assert cfg.size(480, 640) == (256, 342)  # portrait: the short side is the width
    assert cfg.size(321, 241) == (320, 240)  # smaller than 256: full size, even
    for full in (ClipConfig(short_side=None), ClipConfig(short_side=0)):
        assert full.size(641, 481) == (640, 480)


def test_settings_are_recorded_and_a_change_rewrites_the_clips(tmp_path):
    src = make_video(tmp_path / "src.mp4", frames=30, fps=30.0)  # 320x240
    store = LocalStorage(tmp_path / "store")
    specs = [ClipSpec("clips/v/a.mp4", 0, 10), ClipSpec("clips/v/b.mp4", 12, 30)]
    small = ClipConfig(short_side=120, preset="ultrafast")
    args = dict(fps=30.0, width=320, height=240)
    assert set(write_clips(store, src, specs, config=small, **args).values()) == {"written"}
    for s in specs:
        probe = probe_video(store.uri(s.key))
        assert (probe.width, probe.height) == (160, 120)
        assert count_frames(store.uri(s.key)) == s.frames
    record = json.loads(store.read_bytes("clips/v/clips.json"))
    assert record == {"width": 160, "height": 120, "short_side": 120, "preset": "ultrafast",
                      "threads": 1, "crf": 20, "fps": None}  # fmt: skip
    assert set(write_clips(store, src, specs, config=small, **args).values()) == {"kept"}
    # another preset (or size): every clip of the video is cut again, the record follows
    other = small.model_copy(update={"preset": "veryfast"})
    assert set(write_clips(store, src, specs, config=other, **args).values()) == {"written"}
    assert json.loads(store.read_bytes("clips/v/clips.json"))["preset"] == "veryfast"
    full = write_clips(store, src, specs, config=ClipConfig(short_side=None), **args)
    assert set(full.values()) == {"written"}
    assert probe_video(store.uri("clips/v/a.mp4")).width == 320


def test_x264_threads_do_not_change_the_frames_count(tmp_path):
    src = make_video(tmp_path / "src.mp4", frames=20, fps=30.0)
    store = LocalStorage(tmp_path / "store")
    for threads in (0, 2):
        spec = ClipSpec(f"clips/t{threads}/a.mp4", 0, 20)
        cfg = ClipConfig(threads=threads)
        assert write_clips(store, src, [spec], config=cfg, fps=30.0, width=320, height=240) == {
            spec.key: "written"
        }
        assert count_frames(store.uri(spec.key)) == 20


def test_default_preset_is_superfast():
    assert ClipConfig().preset == "superfast"  # BENCHMARKS.md "Speed": cost against bytes


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        ClipConfig(preset="warp")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ClipConfig(short_side=-1)
    for fps in (0, -10, 5000):
        with pytest.raises(ValueError):
            ClipConfig(fps=fps)
