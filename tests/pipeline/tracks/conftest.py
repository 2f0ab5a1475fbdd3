"""Synthetic frames with analytic motion for the tracking tests (generated on the fly)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from pipeline.io.video import Frame

Motion = Callable[[int], tuple[np.ndarray, np.ndarray]]  # k -> (A (2, 2), t (2,)) of frame k


def texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    """Float32 (H, W) multi-scale random texture in ~[20, 235] (smooth, natural-image-like)."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width), np.float32)
    for cell, weight in ((32, 1.0), (12, 0.8), (5, 0.4)):
        base = rng.random((height // cell + 4, width // cell + 4)).astype(np.float32)
        up = cv2.resize(base, (width + 4 * cell, height + 4 * cell), interpolation=cv2.INTER_CUBIC)
        img += weight * up[2 * cell : 2 * cell + height, 2 * cell : 2 * cell + width]
    img -= img.min()
    return img / img.max() * 215 + 20


def translation(dx: float, dy: float) -> Motion:
    """Frame k shows the content shifted by k * (dx, dy) px."""
    return lambda k: (np.eye(2), np.array([dx * k, dy * k]))


def rotation(deg_per_frame: float) -> Motion:
    """Frame k shows the content rotated by k * deg about the frame center."""

    def motion(k: int) -> tuple[np.ndarray, np.ndarray]:
        a = np.deg2rad(deg_per_frame * k)
        return np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]]), np.zeros(2)

    return motion


def render(
    motion: Motion,
    count: int,
    size: tuple[int, int] = (320, 240),
    *,
    seed: int = 0,
    index_step: int = 3,
    source_fps: float = 30.0,
    noise: float = 0.0,
) -> list[Frame]:
    """Frames of a texture moved by ``motion``: content at p in frame 0 is at
    ``A_k (p - c) + c + t_k`` in frame k (continuous px, c = frame center).

    Frame k has source index ``k * index_step`` and ``t_sec = index / source_fps``.
    """
    width, height = size
    big = texture(2 * height, 2 * width, seed)
    center = np.array([width / 2, height / 2])
    offset = np.array([width / 2, height / 2])  # the frame shows the middle of ``big``
    rng = np.random.default_rng(seed + 1)
    frames = []
    for k in range(count):
        a, t = motion(k)
        ai = np.linalg.inv(a)
        b = ai @ (np.full(2, 0.5) - center - t) + center + offset - 0.5
        m = np.hstack([ai, b[:, None]]).astype(np.float32)
        img = cv2.warpAffine(big, m, size, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP)
        if noise:
            img = img + rng.normal(0, noise, img.shape).astype(np.float32)
        idx = k * index_step
        image = np.clip(img + 0.5, 0, 255).astype(np.uint8)
        frames.append(Frame(index=idx, t_sec=idx / source_fps, image=image))
    return frames


def true_positions(
    motion: Motion, points: np.ndarray, count: int, size: Sequence[int]
) -> np.ndarray:
    """(count, N, 2) analytic positions of ``points`` (frame-0 px) in frames 0..count-1."""
    center = np.array([size[0] / 2, size[1] / 2])
    out = []
    for k in range(count):
        a, t = motion(k)
        out.append((points - center) @ a.T + center + t)
    return np.array(out)


def static_frames(
    count: int, size: tuple[int, int] = (320, 240), start_index: int = 0
) -> list[Frame]:
    """Identical textured frames (a truly static scene)."""
    img = np.clip(texture(size[1], size[0], seed=5) + 0.5, 0, 255).astype(np.uint8)
    return [
        Frame(index=start_index + k, t_sec=(start_index + k) / 10, image=img.copy())
        for k in range(count)
    ]


@pytest.fixture(autouse=True)
def _one_opencv_thread() -> Iterator[None]:
    """Tracking results are compared across runs: use one OpenCV thread like the pipeline."""
    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    yield
    cv2.setNumThreads(previous)


@pytest.fixture
def synth() -> SimpleNamespace:
    """The helpers of this module, for tests (tests/ subfolders are not packages)."""
    return SimpleNamespace(
        texture=texture, translation=translation, rotation=rotation, render=render,
        true_positions=true_positions, static_frames=static_frames,
    )  # fmt: skip
