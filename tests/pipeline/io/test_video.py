from pathlib import Path

import pytest
from videogen import decode_index, make_video

from pipeline.errors import VideoError
from pipeline.ingest.landing import normalized_frame_count
from pipeline.io.video import (
    count_frames,
    iter_frames,
    normalized_size,
    probe_video,
    sample_indices,
    source_index,
)


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    return make_video(tmp_path_factory.mktemp("v") / "idx.mp4", frames=95, fps=30.0)


def test_probe_reports_exact_counts(video):
    p = probe_video(video)
    assert (p.width, p.height, p.codec) == (320, 240, "h264")
    assert p.fps == pytest.approx(30.0)
    assert p.frame_count == 95 == count_frames(video)
    assert p.duration_sec == pytest.approx(95 / 30)


def test_decoder_keeps_true_rate_with_exact_timestamps(video):
    frames = list(iter_frames(video, target_fps=10, short_side=120))
    assert [f.index for f in frames] == list(range(0, 95, 3))
    for f in frames:
        assert f.t_sec == pytest.approx(f.index / 30.0)
        assert decode_index(f.image) == f.index  # the pixels really are that source frame
        assert f.image.shape == (120, 160)


def test_decoder_range_after_seek_matches_whole_video(video):
    whole = [f.index for f in iter_frames(video, target_fps=10, short_side=120)]
    part = list(iter_frames(video, target_fps=10, short_side=120, start_frame=40, end_frame=70))
    assert [f.index for f in part] == [i for i in whole if 40 <= i < 70]
    assert all(decode_index(f.image) == f.index for f in part)


def test_non_integer_ratio_sampling():
    # 25 fps -> 10 fps keeps round(k * 2.5): 0, 3 (2.5 rounds half up), 5, 8, 10
    assert list(sample_indices(25.0, 10.0, 0, 11)) == [0, 3, 5, 8, 10]
    assert normalized_frame_count(25.0, 10.0, 11) == 5
    assert [source_index(k, 25.0, 10.0) for k in range(5)] == [0, 3, 5, 8, 10]


def test_a_range_keeps_exactly_the_whole_videos_frames_in_it():
    # 29.97 -> 10 fps: source_index(10) = 30 rounds up past 10 * 2.997; a range starting at 30
    # once began at k = 11 and lost frame 30
    assert list(sample_indices(30000 / 1001, 10.0, 30, 31)) == [30]
    for fps, target in [(30000 / 1001, 10.0), (25.0, 10.0), (30.0, 10.0), (59.94, 7.0), (7, 10)]:
        whole = list(sample_indices(fps, target, 0, 3000))
        for start in range(0, 400, 1):
            assert list(sample_indices(fps, target, start, 3000)) == [i for i in whole
                                                                      if i >= start]  # fmt: skip


def test_normalized_frame_count_matches_sampler():
    for fps, target, n in [(30, 10, 95), (29.97, 10, 1000), (10, 10, 33), (7, 10, 20)]:
        assert normalized_frame_count(fps, target, n) == len(
            list(sample_indices(fps, target, 0, n))
        )


def test_normalized_size_is_even_and_keeps_aspect():
    assert normalized_size(640, 480, 320) == (426, 320)
    assert normalized_size(1080, 1920, 320) == (320, 568)
    w, h = normalized_size(333, 201, 121)
    assert w % 2 == 0 and h % 2 == 0


def test_probe_rejects_garbage(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00not a video" * 100)
    with pytest.raises(VideoError) as err:
        probe_video(bad)
    assert err.value.reason == "unreadable"
