"""Documented video limits (``VideoConfig``): beyond one, a video is refused with its own reason
and ingest quarantines it; odd sizes are not a limit (they work end to end)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from videogen import decode_index, encode_timed, index_frame, make_rotated_video, make_video

from pipeline.config import VideoConfig, WindowConfig
from pipeline.errors import VideoError
from pipeline.ingest.stage import ingest_partition
from pipeline.io.storage import LocalStorage, open_storage
from pipeline.io.tables import read_partition
from pipeline.io.video import (
    check_limits,
    count_frames,
    iter_frames,
    normalized_size,
    probe_video,
)
from pipeline.segments.clips import ClipSpec, write_clips


def _blank(path: Path, width: int, height: int, frames: int = 3, **kw) -> Path:
    img = np.full((height, width, 3), 96, np.uint8)
    return encode_timed(path, [img] * frames, range(frames), **kw)


@pytest.fixture(scope="module")
def plain(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("lim") / "plain.mp4", frames=90, fps=30.0)


def _reason(path: Path, **limits) -> tuple[str, str]:
    with pytest.raises(VideoError) as err:
        probe_video(path, limits=VideoConfig(**limits))
    return err.value.reason, err.value.detail


def test_defaults_accept_what_the_suite_and_the_demo_use(plain, tmp_path):
    limits = VideoConfig()
    assert probe_video(plain, limits=limits).frame_count == 90
    assert (limits.max_side, limits.max_pixels, limits.min_short_side) == (8192, 35_389_440, 16)
    assert (limits.max_duration_sec, limits.max_file_gb, limits.max_fps) == (43200, 50, 1000)
    # the limits select videos; they never change frames, so not the tracks' fingerprint
    assert VideoConfig(max_side=100).fingerprint() == VideoConfig().fingerprint()
    assert VideoConfig(short_side=240).fingerprint() != VideoConfig().fingerprint()
    assert probe_video(_blank(tmp_path / "16.mp4", 16, 16), limits=limits).width == 16


@pytest.mark.parametrize(
    ("limits", "reason", "named"),
    [
        ({"max_side": 300}, "resolution_too_large", "max_side=300"),
        ({"max_pixels": 320 * 240 - 1}, "resolution_too_large", "max_pixels=76799"),
        ({"min_short_side": 241}, "resolution_too_small", "min_short_side=241"),
        ({"max_duration_sec": 2.5}, "too_long", "max_duration_sec=2.5"),
        ({"max_fps": 25}, "frame_rate_too_high", "max_fps=25"),
        ({"max_file_gb": 1e-6}, "file_too_large", "max_file_gb=1e-06"),
    ],
)
def test_each_limit_has_its_own_reason(plain, limits, reason, named):
    got, detail = _reason(plain, **limits)
    assert got == reason and named in detail


def test_file_size_is_refused_before_the_file_is_opened(tmp_path):
    garbage = tmp_path / "huge.mp4"
    garbage.write_bytes(b"\x00" * 5000)  # not a video at all: the size refuses it first
    assert _reason(garbage, max_file_gb=1e-6)[0] == "file_too_large"
    with pytest.raises(VideoError) as err:
        probe_video(garbage)
    assert err.value.reason == "unreadable"


def test_default_limits_refuse_tiny_and_oversized_frames(tmp_path):
    tiny = _blank(tmp_path / "tiny.mp4", 8, 8)
    assert _reason(tiny) == ("resolution_too_small", "8x8: a side < min_short_side=16")
    wide = _blank(tmp_path / "wide.mp4", 8200, 16, frames=2)
    assert _reason(wide) == ("resolution_too_large", "8200x16: a side > max_side=8192")


def test_limits_apply_to_the_displayed_size(tmp_path):
    portrait = make_rotated_video(tmp_path / "p.mp4", rotation=90, frames=5, width=240, height=320)
    probe = probe_video(portrait)
    check_limits(probe, VideoConfig(max_side=320))
    with pytest.raises(VideoError, match="240x320"):
        check_limits(probe, VideoConfig(max_side=319))


def test_ingest_quarantines_videos_beyond_the_limits_and_keeps_the_rest(tmp_path):
    day = tmp_path / "landing" / "cam1" / "2026-03-04"
    make_video(day / "ok.mp4", frames=30)
    make_video(day / "long.mp4", frames=150)  # 5 s
    _blank(day / "tiny.mp4", 8, 8)
    store = open_storage(tmp_path / "store")
    result, _ = ingest_partition(
        open_storage(tmp_path / "landing"), store, "2026-03-04", "cam1",
        video=VideoConfig(max_duration_sec=4.0), windows=WindowConfig(),
    )  # fmt: skip
    assert [v["file_name"] for v in result.videos] == ["ok.mp4"]
    reasons = {q["file_name"]: (q["reason"], q["detail"]) for q in result.quarantine}
    assert reasons == {
        "long.mp4": ("too_long", "5.0 s > max_duration_sec=4"),
        "tiny.mp4": ("resolution_too_small", "8x8: a side < min_short_side=16"),
    }
    assert [r["file_name"] for r in read_partition(store, "videos", "2026-03-04",
                                                   "cam1").to_pylist()] == ["ok.mp4"]  # fmt: skip


@pytest.fixture(scope="module")
def odd(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("odd") / "odd.mp4"
    # H.264 4:2:0 cannot hold odd sizes; 4:4:4 can, as cameras' odd-sized streams do
    return encode_timed(path, (index_frame(i, 321, 241) for i in range(60)), range(60),
                        pix_fmt="yuv444p")  # fmt: skip


def test_odd_sized_video_is_probed_and_normalized_to_even_sizes(odd):
    p = probe_video(odd, limits=VideoConfig())
    assert (p.width, p.height, p.frame_count) == (321, 241, 60)
    w, h = normalized_size(p.width, p.height, 320)
    assert w % 2 == 0 and h % 2 == 0
    frames = list(iter_frames(odd, target_fps=10, short_side=120))
    assert [f.index for f in frames] == list(range(0, 60, 3))
    assert frames[0].image.shape == (120, 160)
    assert all(decode_index(f.image) == f.index for f in frames)


def test_clips_of_an_odd_sized_video_are_even_and_exact(odd, tmp_path):
    store = LocalStorage(tmp_path / "store")
    specs = [ClipSpec("clips/a.mp4", 0, 25), ClipSpec("clips/b.mp4", 25, 60)]
    status = write_clips(store, odd, specs, fps=30.0, width=321, height=241)
    assert set(status.values()) == {"written"}
    for spec in specs:
        path = Path(store.uri(spec.key))
        p = probe_video(path)
        assert (p.width, p.height) == (320, 240)
        assert count_frames(path) == spec.frames
        got = [decode_index(f.image) for f in iter_frames(path, target_fps=1000, short_side=240)]
        assert got == list(range(spec.start_frame, spec.end_frame))
