"""Tiny test videos made on the fly: each frame carries its own index as a binary pattern."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pipeline.io.video import encode_frames

BITS = 12


def index_frame(i: int, width: int = 320, height: int = 240) -> np.ndarray:
    """RGB frame whose top band encodes ``i`` in BITS black/white blocks."""
    img = np.full((height, width, 3), 96, np.uint8)
    bw = width // BITS
    for b in range(BITS):
        if (i >> b) & 1:
            img[: height // 2, b * bw : (b + 1) * bw] = 255
        else:
            img[: height // 2, b * bw : (b + 1) * bw] = 0
    return img


def decode_index(gray: np.ndarray) -> int:
    """Read back the index of a decoded (possibly resized) gray frame."""
    h, w = gray.shape[:2]
    bw = w / BITS
    value = 0
    for b in range(BITS):
        x0, x1 = int(b * bw + bw * 0.3), int((b + 1) * bw - bw * 0.3)
        if gray[h // 8 : h // 3, x0:x1].mean() > 128:
            value |= 1 << b
    return value


def make_video(
    path: Path, *, frames: int, fps: float = 30.0, width: int = 320, height: int = 240
) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    encode_frames((index_frame(i, width, height) for i in range(frames)), path, fps=fps, crf=18)
    return path


def encode_timed(
    path: Path,
    images,
    pts,
    *,
    fps: float = 30.0,
    rotation: int = 0,
    pix_fmt: str = "yuv420p",
    time_base=None,
) -> Path:
    """Encode RGB ``images`` with explicit ``pts`` (in ``time_base``, default ``1/fps``) and a
    display matrix turning the stored picture ``rotation`` degrees clockwise, as phones write it.
    Odd sizes need ``pix_fmt="yuv444p"``."""
    from fractions import Fraction

    import av

    rate = Fraction(fps).limit_denominator(1001)
    tb = time_base or 1 / rate
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.pix_fmt = pix_fmt
        stream.options = {"crf": "18", "preset": "veryfast"}
        stream.codec_context.time_base = tb
        if rotation:
            stream.set_display_rotation(-rotation)  # PyAV takes counter-clockwise degrees
        for n, (img, t) in enumerate(zip(images, pts, strict=True)):
            if n == 0:
                stream.height, stream.width = img.shape[:2]
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            vf.pts, vf.time_base = int(t), tb
            for packet in stream.encode(vf):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def make_vfr_video(
    path: Path, slots, *, fps: float = 30.0, width: int = 320, height: int = 240
) -> Path:
    """A variable-frame-rate video: frames only at the 1/fps grid ``slots`` (increasing), each
    showing its slot number (``decode_index``), as a camera that drops frames writes them."""
    slots = [int(s) for s in slots]
    return encode_timed(path, (index_frame(s, width, height) for s in slots), slots, fps=fps)


def marker_frame(i: int, width: int, height: int) -> np.ndarray:
    """RGB frame ``i`` as displayed: ``index_frame`` in the top half, a light gray (MARKER)
    square marking the bottom-left corner (asymmetric under every rotation and flip)."""
    img = index_frame(i, width, height)
    side = min(width, height) // 4
    img[height - side :, :side] = MARKER
    return img


MARKER = 176  # the marker square's gray: neither the background (96) nor a bit (0 / 255)


def make_rotated_video(
    path: Path,
    *,
    rotation: int,
    frames: int,
    fps: float = 30.0,
    width: int = 320,
    height: int = 240,
    pix_fmt: str = "yuv420p",
) -> Path:
    """A video a player shows as ``marker_frame``s of ``width`` x ``height``, stored turned
    back by ``rotation`` (clockwise degrees) with a display matrix saying so."""
    turns = (rotation // 90) % 4
    stored = (np.rot90(marker_frame(i, width, height), turns) for i in range(frames))
    return encode_timed(path, stored, range(frames), fps=fps, rotation=rotation, pix_fmt=pix_fmt)
