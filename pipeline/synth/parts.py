"""Small textured parts (nut, block, cap) and cardboard boxes, drawn with sub-pixel accuracy."""

from __future__ import annotations

import math

import cv2
import numpy as np

SHIFT = 4  # cv2 drawing fixed-point bits: coordinates are multiplied by 2**SHIFT
_ONE = 1 << SHIFT
PART_COLORS = ((178, 180, 188), (226, 122, 38), (58, 160, 84))  # nut, block, cap (RGB)


def fx(v: float) -> int:
    """Float pixel coordinate -> cv2 fixed point."""
    return int(round(v * _ONE))


def _poly(center: tuple[float, float], pts: np.ndarray, angle: float) -> np.ndarray:
    """Rotate local points (n, 2) by ``angle`` (rad), move to ``center``; fixed-point int32."""
    c, s = math.cos(angle), math.sin(angle)
    rot = pts @ np.array([[c, s], [-s, c]])
    return np.round((rot + np.asarray(center)) * _ONE).astype(np.int32)


def _ngon(n: int, r: float, phase: float = 0.0) -> np.ndarray:
    a = phase + 2 * np.pi * np.arange(n) / n
    return np.stack([r * np.cos(a), r * np.sin(a)], axis=1)


def _circle(img: np.ndarray, c: tuple[float, float], r: float, color, thick: int = -1) -> None:
    cv2.circle(img, (fx(c[0]), fx(c[1])), max(fx(r), 1), color, thick, cv2.LINE_AA, SHIFT)


def _nut(img: np.ndarray, c: tuple[float, float], angle: float, r: float) -> None:
    dark = (70, 72, 78)
    cv2.fillConvexPoly(img, _poly(c, _ngon(6, r), angle), PART_COLORS[0], cv2.LINE_AA, SHIFT)
    cv2.polylines(img, [_poly(c, _ngon(6, r), angle)], True, dark, 1, cv2.LINE_AA, SHIFT)
    _circle(img, c, 0.62 * r, (140, 142, 150))
    _circle(img, c, 0.42 * r, (34, 34, 40))
    edge = _poly(c, np.array([[0.5 * r, -0.7 * r], [0.9 * r, 0.0]]), angle)
    cv2.line(img, tuple(edge[0]), tuple(edge[1]), (235, 236, 240), 1, cv2.LINE_AA, SHIFT)


def _block(img: np.ndarray, c: tuple[float, float], angle: float, r: float) -> None:
    sq = np.array([[-1, -1], [1, -1], [1, 1], [-1, 1]], float) * 0.8 * r
    cv2.fillConvexPoly(img, _poly(c, sq, angle), PART_COLORS[1], cv2.LINE_AA, SHIFT)
    band = np.array([[-0.8, -0.2], [0.8, -0.2], [0.8, 0.15], [-0.8, 0.15]]) * r
    cv2.fillConvexPoly(img, _poly(c, band, angle), (150, 70, 20), cv2.LINE_AA, SHIFT)
    for hx in (-0.45, 0.45):
        hole = _poly(c, np.array([[hx * r, 0.5 * r]]), angle)[0] / _ONE
        _circle(img, (hole[0], hole[1]), 0.18 * r, (40, 24, 12))
    cv2.polylines(img, [_poly(c, sq, angle)], True, (110, 55, 15), 1, cv2.LINE_AA, SHIFT)


def _cap(img: np.ndarray, c: tuple[float, float], angle: float, r: float) -> None:
    _circle(img, c, r, (34, 100, 52))
    _circle(img, c, 0.82 * r, PART_COLORS[2])
    for a in (angle, angle + math.pi / 2):
        seg = _poly(c, np.array([[-0.6 * r, 0.0], [0.6 * r, 0.0]]), a)
        cv2.line(
            img,
            tuple(seg[0]),
            tuple(seg[1]),
            (20, 50, 26),
            max(1, int(0.18 * r)),
            cv2.LINE_AA,
            SHIFT,
        )
    _circle(img, (c[0] - 0.35 * r, c[1] - 0.35 * r), 0.12 * r, (190, 235, 200))


def draw_part(
    img: np.ndarray, kind: int, center: tuple[float, float], angle: float, radius: float
) -> None:
    """Draw part ``kind`` (0 nut, 1 block, 2 cap) of ``radius`` px at ``center`` (output px)."""
    if kind == 0:
        _nut(img, center, angle, radius)
    elif kind == 1:
        _block(img, center, angle, radius)
    elif kind == 2:
        _cap(img, center, angle, radius)
    else:
        raise ValueError(f"unknown part kind {kind}")


def draw_box(img: np.ndarray, center: tuple[float, float], angle: float, size: float) -> None:
    """Cardboard box seen from above (``size`` = long side, px) with tape and a label."""
    body = np.array([[-0.5, -0.35], [0.5, -0.35], [0.5, 0.35], [-0.5, 0.35]]) * size
    cv2.fillConvexPoly(img, _poly(center, body, angle), (190, 148, 98), cv2.LINE_AA, SHIFT)
    tape = np.array([[-0.5, -0.06], [0.5, -0.06], [0.5, 0.06], [-0.5, 0.06]]) * size
    cv2.fillConvexPoly(img, _poly(center, tape, angle), (222, 204, 160), cv2.LINE_AA, SHIFT)
    label = np.array([[0.12, 0.12], [0.4, 0.12], [0.4, 0.3], [0.12, 0.3]]) * size
    cv2.fillConvexPoly(img, _poly(center, label, angle), (245, 245, 240), cv2.LINE_AA, SHIFT)
    bars = _poly(center, np.array([[0.16, 0.21], [0.36, 0.21]]) * size, angle)
    cv2.line(img, tuple(bars[0]), tuple(bars[1]), (20, 20, 20), 1, cv2.LINE_AA, SHIFT)
    cv2.polylines(img, [_poly(center, body, angle)], True, (120, 88, 52), 1, cv2.LINE_AA, SHIFT)
