"""``iter_video_frames``: the decoder's slots as encoder-ready ``av.VideoFrame`` objects (the clip
path), and ``iter_frames`` unchanged by the swscale context it now keeps for a whole decode."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from videogen import decode_index, encode_timed, index_frame, make_rotated_video, make_vfr_video

from pipeline.io.video import encode_frames, iter_frames, iter_video_frames


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    # 400x300 so that 160x120 is a real shrink on both sides (area averaging)
    return make_vfr_video(tmp_path_factory.mktemp("v") / "v.mp4", range(60), width=400, height=300)


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 10 * np.log10(255**2 / mse) if mse else float("inf")


def test_upright_frames_go_straight_to_yuv420p_at_the_clip_size(video):
    frames = list(iter_video_frames(video, size=(160, 120), target_fps=30.0))
    rgb = list(iter_frames(video, target_fps=30.0, size=(160, 120), gray=False))
    assert [i for i, _ in frames] == [f.index for f in rgb] == list(range(60))
    for (i, vf), ref in zip(frames, rgb, strict=True):
        assert (vf.format.name, vf.width, vf.height) == ("yuv420p", 160, 120)
        assert decode_index(vf.to_ndarray(format="gray")) == i
        # the same picture as the RGB path up to chroma rounding (measured: 47 dB or more)
        assert _psnr(vf.to_ndarray(format="rgb24"), ref.image) > 35


def test_held_and_sampled_slots_are_the_decoders(tmp_path):
    kept = [0, 1, 2, 5, 6, 7, 8, 12, 13, 20, 21, 22, 23, 24, 29]  # gaps: held slots
    src = make_vfr_video(tmp_path / "vfr.mp4", kept, width=320, height=240)
    for fps, start, end in ((30.0, 0, None), (10.0, 0, None), (30.0, 4, 14)):
        gray = list(iter_frames(src, target_fps=fps, size=(160, 120), start_frame=start,
                                end_frame=end))  # fmt: skip
        ours = list(iter_video_frames(src, size=(160, 120), target_fps=fps, start_frame=start,
                                      end_frame=end))  # fmt: skip
        assert [i for i, _ in ours] == [f.index for f in gray]
        shown = [decode_index(vf.to_ndarray(format="gray")) for _, vf in ours]
        assert shown == [decode_index(f.image) for f in gray]
        assert shown == [max(k for k in kept if k <= i) for i, _ in ours]


def test_a_turned_source_takes_the_rgb_path_upright(tmp_path):
    src = make_rotated_video(tmp_path / "r.mp4", rotation=90, frames=12, width=240, height=320)
    ours = list(iter_video_frames(src, size=(240, 320), target_fps=30.0))
    ref = list(iter_frames(src, target_fps=30.0, size=(240, 320), gray=False))
    assert len(ours) == len(ref) == 12
    for (_, vf), f in zip(ours, ref, strict=True):
        assert (vf.format.name, vf.width, vf.height) == ("rgb24", 240, 320)
        assert np.array_equal(vf.to_ndarray(), f.image)


def test_an_odd_size_is_cropped_to_even_sides(tmp_path):
    src = encode_timed(tmp_path / "odd.mp4", (index_frame(i, 321, 241) for i in range(6)),
                       range(6), pix_fmt="yuv444p")  # fmt: skip
    ours = list(iter_video_frames(src, size=(321, 241), target_fps=30.0))
    ref = list(iter_frames(src, target_fps=30.0, size=(321, 241), gray=False))
    for (_, vf), f in zip(ours, ref, strict=True):
        assert (vf.width, vf.height) == (320, 240)
        assert np.array_equal(vf.to_ndarray(), f.image[:240, :320])


@pytest.mark.parametrize("fmt", ["gray", "rgb24"])
def test_iter_frames_pixels_are_those_of_a_fresh_swscale_per_frame(video, fmt):
    """The decoder keeps one swscale context per decode; each image is what converting that
    frame on its own (``frame.reformat``, a context per frame, as before) gives."""
    ours = [f.image for f in iter_frames(video, target_fps=30.0, size=(160, 120),
                                         gray=fmt == "gray")]  # fmt: skip
    with av.open(str(video)) as c:
        fresh = [
            f.reformat(width=160, height=120, format=fmt, interpolation="AREA").to_ndarray()
            for f in c.decode(video=0)
        ]
    assert len(ours) == len(fresh) == 60
    assert all(np.array_equal(a, b) for a, b in zip(ours, fresh, strict=True))


def test_encoding_video_frames_is_deterministic(video, tmp_path):
    outs = []
    for n in range(2):
        out = tmp_path / f"c{n}.mp4"
        frames = (vf for _, vf in iter_video_frames(video, size=(160, 120), target_fps=30.0))
        assert encode_frames(frames, out, fps=30.0, crf=20, preset="superfast", threads=1) == 60
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
