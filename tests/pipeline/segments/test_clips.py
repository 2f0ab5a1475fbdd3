"""Clips hold exactly the source frames of their range, at the source rate and size."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest
from videogen import decode_index, make_video

from pipeline.io.keys import clip_key
from pipeline.io.storage import LocalStorage
from pipeline.io.video import count_frames, iter_frames, probe_video
from pipeline.segments.clips import ClipSpec, even_size, write_clips


def _decoded_indexes(path: Path) -> list[int]:
    return [decode_index(f.image) for f in iter_frames(path, target_fps=1000, short_side=240)]


@pytest.mark.parametrize(("fps", "size"), [(30.0, (320, 240)), (30000 / 1001, (322, 242))])
def test_clips_are_exact_source_frame_ranges(tmp_path, fps, size):
    src = make_video(tmp_path / "src.mp4", frames=200, fps=fps, width=size[0], height=size[1])
    store = LocalStorage(tmp_path / "store")
    ranges = [(0, 17), (17, 18), (45, 107), (150, 200)]  # touching, one frame, middle, the end
    specs = [ClipSpec(f"clips/c{a}-{b}.mp4", a, b) for a, b in ranges]
    status = write_clips(store, src, specs, fps=fps, width=size[0], height=size[1])
    assert set(status.values()) == {"written"}
    for spec in specs:
        path = Path(store.uri(spec.key))
        probe = probe_video(path)
        assert count_frames(path) == spec.frames
        assert probe.fps == pytest.approx(fps, rel=1e-6)  # plays at the source's speed
        assert (probe.width, probe.height) == (size[0] - size[0] % 2, size[1] - size[1] % 2)
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            assert s.average_rate == Fraction(fps).limit_denominator(1001)
            assert s.codec_context.name == "h264" and s.codec_context.pix_fmt == "yuv420p"
        assert _decoded_indexes(path) == list(range(spec.start_frame, spec.end_frame))


def test_existing_clips_are_kept_and_bad_ranges_refused(tmp_path):
    src = make_video(tmp_path / "src.mp4", frames=60, fps=30.0)
    store = LocalStorage(tmp_path / "store")
    specs = [ClipSpec("clips/a.mp4", 5, 20), ClipSpec("clips/b.mp4", 30, 40)]
    assert set(write_clips(store, src, specs, fps=30.0, width=320, height=240).values()) == {
        "written"
    }
    before = Path(store.uri("clips/a.mp4")).read_bytes()
    again = write_clips(store, src, specs, fps=30.0, width=320, height=240)
    assert again == {"clips/a.mp4": "kept", "clips/b.mp4": "kept"}
    assert Path(store.uri("clips/a.mp4")).read_bytes() == before
    with pytest.raises(ValueError, match="non-overlapping"):
        write_clips(store, src, [ClipSpec("x.mp4", 0, 10), ClipSpec("y.mp4", 5, 12)], fps=30.0,
                    width=320, height=240)  # fmt: skip


def test_clip_past_the_end_of_the_source_is_not_published(tmp_path):
    src = make_video(tmp_path / "src.mp4", frames=30, fps=30.0)
    store = LocalStorage(tmp_path / "store")
    specs = [ClipSpec("clips/ok.mp4", 0, 10), ClipSpec("clips/short.mp4", 20, 40)]
    status = write_clips(store, src, specs, fps=30.0, width=320, height=240)
    assert status["clips/ok.mp4"] == "written"
    assert status["clips/short.mp4"].startswith("failed")
    assert not store.exists("clips/short.mp4")
    # no temp file left; the settings record beside the clips
    assert [i.key for i in store.list("clips/")] == ["clips/clips.json", "clips/ok.mp4"]


def test_clip_size_is_even_and_key_template():
    assert even_size(321, 241) == (320, 240) and even_size(320, 240) == (320, 240)
    key = clip_key("2026-01-02", "cam1", "ab" * 32, "f" * 32)
    assert key == f"clips/date=2026-01-02/station=cam1/{'ab' * 8}/{'f' * 32}.mp4"
