"""Procedural textures (RGB uint8) for the bench, belt, metal, sleeve and glove.

Textures are generated once per video at the output resolution (``k`` = output px per design
px) so their features keep the same size in the scene at every preset. Moving things carry
texture (stripes, speckles, dots) so optical flow and point trackers can follow them.
"""

from __future__ import annotations

import cv2
import numpy as np

Color = tuple[int, int, int]


def smooth_noise(h: int, w: int, cell: float, rng: np.random.Generator) -> np.ndarray:
    """Value noise in [-1, 1] of shape (h, w) with features about ``cell`` px wide."""
    gh, gw = max(2, int(np.ceil(h / cell)) + 1), max(2, int(np.ceil(w / cell)) + 1)
    grid = rng.uniform(-1.0, 1.0, (gh, gw)).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC).clip(-1.0, 1.0)


def _to_rgb(shade: np.ndarray, color: Color) -> np.ndarray:
    """Multiply a per-pixel brightness factor (h, w) by ``color`` -> uint8 (h, w, 3)."""
    rgb = shade[:, :, None] * np.asarray(color, np.float32)[None, None, :]
    return np.clip(rgb, 0, 255).astype(np.uint8)


def wood(h: int, w: int, k: float, rng: np.random.Generator) -> np.ndarray:
    """Bench top: wavy horizontal grain, planks, knots-free fine noise."""
    y = np.arange(h, dtype=np.float32)[:, None]
    warp = 10.0 * k * smooth_noise(h, w, 60 * k, rng)
    grain = np.sin(2 * np.pi * (y + warp) / (7.0 * k))
    fine: np.ndarray = rng.standard_normal((h, w)).astype(np.float32)
    fine = cv2.GaussianBlur(fine, (0, 0), sigmaX=2.5 * k, sigmaY=0.6 * k)
    shade = 0.9 + 0.1 * grain + 0.08 * smooth_noise(h, w, 25 * k, rng) + 0.12 * fine
    plank = max(int(64 * k), 4)
    for y0 in range(int(rng.integers(plank)), h, plank):
        shade[y0 : y0 + max(1, int(round(k))), :] *= 0.7
    return _to_rgb(shade, (172, 128, 84))


def belt_tile(h: int, period: int, k: float, rng: np.random.Generator) -> np.ndarray:
    """Conveyor rubber (h, period, 3), periodic in x: ribs across the belt + scuffs."""
    x = np.arange(period, dtype=np.float32)[None, :]
    n_ribs = max(1, int(round(period / (12.0 * k))))
    ribs = np.sin(2 * np.pi * n_ribs * x / period) ** 8
    scuff: np.ndarray = np.tile(rng.standard_normal((h, period)).astype(np.float32), (1, 3))
    scuff = cv2.GaussianBlur(scuff, (0, 0), sigmaX=1.2 * k)[:, period : 2 * period]  # periodic
    shade = 0.75 + 0.45 * ribs + 0.18 * scuff
    for _ in range(max(1, period // max(int(40 * k), 1))):  # chalk marks
        cx, cy = int(rng.integers(period)), int(rng.integers(h))
        for dx in (-period, 0, period):  # wrapped, so the tile stays periodic
            cv2.circle(shade, (cx + dx, cy), max(1, int(2 * k)), 2.2, -1)
    return _to_rgb(shade, (62, 64, 70))


def metal(h: int, w: int, k: float, rng: np.random.Generator) -> np.ndarray:
    """Brushed aluminium: horizontal streaks."""
    streak: np.ndarray = rng.standard_normal((h, w)).astype(np.float32)
    streak = cv2.GaussianBlur(streak, (0, 0), sigmaX=8.0 * k, sigmaY=0.5 * k)
    shade = 1.0 + 0.25 * streak + 0.04 * smooth_noise(h, w, 40 * k, rng)
    return _to_rgb(shade, (168, 172, 178))


def fabric(h: int, w: int, k: float, rng: np.random.Generator, color: Color) -> np.ndarray:
    """Work-jacket sleeve: stripes across the limb, twill speckle and folds."""
    x = np.arange(w, dtype=np.float32)[None, :]
    y = np.arange(h, dtype=np.float32)[:, None]
    stripes = np.sin(2 * np.pi * x / (9.0 * k)) * np.ones_like(y)
    twill = np.sin(2 * np.pi * (x + y) / (3.0 * k))
    speckle = rng.standard_normal((h, w)).astype(np.float32)
    folds = smooth_noise(h, w, 18 * k, rng)
    edge = 1.0 - 0.45 * (np.abs(2 * y / max(h - 1, 1) - 1.0) ** 3)  # rounded limb shading
    shade = (1.0 + 0.22 * stripes + 0.06 * twill + 0.15 * speckle + 0.2 * folds) * edge
    return _to_rgb(shade, color)


def glove(h: int, w: int, k: float, rng: np.random.Generator, color: Color) -> np.ndarray:
    """Knit glove with dark rubber grip dots."""
    speckle = rng.standard_normal((h, w)).astype(np.float32)
    y = np.arange(h, dtype=np.float32)[:, None]
    knit = np.sin(2 * np.pi * y / (2.5 * k)) * np.ones((1, w), np.float32)
    edge = 1.0 - 0.4 * (np.abs(2 * y / max(h - 1, 1) - 1.0) ** 3)
    shade = (1.0 + 0.08 * knit + 0.12 * speckle) * edge
    step = max(int(7 * k), 3)
    for cy in range(step // 2, h, step):
        for cx in range((cy // step % 2) * step // 2, w, step):
            r = max(1, int(round(1.4 * k + rng.uniform(-0.3, 0.3))))
            cv2.circle(shade, (cx, cy), r, 0.35, -1)
    return _to_rgb(shade, color)
