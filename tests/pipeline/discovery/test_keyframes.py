"""Keyframes of real H.264 clips (made here), their JPEGs and gallery strips."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from videogen import decode_index, make_rotated_video, make_video

from pipeline.discovery.keyframes import jpeg_bytes, keyframes, strip
from pipeline.errors import ConfigError, KeyframeError, LapsError


def _index(img: np.ndarray) -> int:
    return decode_index(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY))


def test_frames_are_evenly_spaced_inside_the_clip_from_a_file_or_bytes(tmp_path):
    clip = make_video(tmp_path / "c.mp4", frames=30)
    frames = keyframes(clip, 5)
    # floor((i + 0.5) * 30 / 5): the middle of five equal parts, never the first or last frame
    assert [_index(f) for f in frames] == [3, 9, 15, 21, 27]
    assert all(f.dtype == np.uint8 and f.shape == (240, 320, 3) for f in frames)
    from_bytes = keyframes(clip.read_bytes(), 5)
    assert all(np.array_equal(a, b) for a, b in zip(frames, from_bytes, strict=True))


def test_frames_are_rgb_in_channel_order(tmp_path):
    from pipeline.io.video import encode_frames

    red = np.zeros((64, 96, 3), np.uint8)
    red[..., 0] = 220
    path = tmp_path / "red.mp4"
    encode_frames(iter([red] * 4), path, fps=10.0, crf=18)
    (img,) = keyframes(path, 1)
    r, g, b = img.reshape(-1, 3).mean(0)
    assert r > 180 and g < 40 and b < 40


def test_large_frames_shrink_to_max_side_keeping_the_aspect(tmp_path):
    clip = make_video(tmp_path / "c.mp4", frames=6, width=640, height=480)
    frames = keyframes(clip, 2, max_side=200)
    assert [f.shape for f in frames] == [(150, 200, 3)] * 2
    assert [_index(f) for f in frames] == [1, 4]
    assert keyframes(clip, 1, max_side=2000)[0].shape == (480, 640, 3)  # never enlarged


def test_a_clip_shorter_than_n_gives_each_frame_once(tmp_path):
    clip = make_video(tmp_path / "c.mp4", frames=3)
    assert [_index(f) for f in keyframes(clip, 8)] == [0, 1, 2]


def test_a_rotated_clip_comes_out_upright(tmp_path):
    clip = make_rotated_video(tmp_path / "r.mp4", rotation=90, frames=4, width=320, height=240)
    frames = keyframes(clip, 2, max_side=160)
    assert [f.shape for f in frames] == [(120, 160, 3)] * 2  # displayed landscape, shrunk
    assert [_index(f) for f in frames] == [1, 3]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "unreadable"),
        (b"definitely not a video" * 50, "unreadable"),
    ],
)
def test_undecodable_bytes_raise_a_keyframe_error_with_the_reason(payload, reason):
    with pytest.raises(KeyframeError) as info:
        keyframes(payload, 3)
    assert isinstance(info.value, LapsError) and info.value.reason == reason
    assert f"<clip of {len(payload)} bytes>" in str(info.value)


def test_a_truncated_clip_raises_or_gives_the_frames_it_holds(tmp_path):
    data = make_video(tmp_path / "c.mp4", frames=30).read_bytes()
    with pytest.raises(KeyframeError) as info:
        keyframes(data[: len(data) // 3], 4)  # the moov atom (index) is at the end: lost
    assert info.value.reason in {"unreadable", "undecodable", "no_frames"}


def test_a_missing_file_raises_a_keyframe_error(tmp_path):
    with pytest.raises(KeyframeError, match="unreadable"):
        keyframes(tmp_path / "nope.mp4", 2)


def test_bad_options_are_config_errors(tmp_path):
    clip = make_video(tmp_path / "c.mp4", frames=3)
    with pytest.raises(ConfigError, match="n must be"):
        keyframes(clip, 0)
    with pytest.raises(ConfigError, match="max_side"):
        keyframes(clip, 1, max_side=0)


def test_jpeg_bytes_keep_rgb_order():
    img = np.zeros((32, 48, 3), np.uint8)
    img[:, :24, 0] = 255  # left half red
    img[:, 24:, 2] = 255  # right half blue
    data = jpeg_bytes(img, quality=95)
    assert data[:2] == b"\xff\xd8"
    back = cv2.cvtColor(
        cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB
    )
    assert back.shape == img.shape
    assert np.abs(back.astype(int) - img).mean() < 8
    assert len(jpeg_bytes(img, quality=20)) < len(data)
    with pytest.raises(KeyframeError, match="bad_image"):
        jpeg_bytes(img[..., 0])


def test_strip_puts_frames_side_by_side_at_one_height():
    red = np.zeros((120, 160, 3), np.uint8)
    red[..., 0] = 255
    blue = np.zeros((60, 60, 3), np.uint8)
    blue[..., 2] = 255
    out = strip([red, blue, red], height=48)
    assert out.dtype == np.uint8 and out.shape == (48, 64 + 48 + 64, 3)
    assert out[:, :64, 0].min() == 255 and out[:, 64:112, 2].min() == 255
    assert out[:, 112:, 0].min() == 255 and out[:, 64:112, 0].max() == 0
    with pytest.raises(KeyframeError, match="no_images"):
        strip([])
