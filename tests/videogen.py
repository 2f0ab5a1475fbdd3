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
