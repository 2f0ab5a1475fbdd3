"""Geometry of the synthetic workstation, in *design pixels*.

Everything is laid out on a 640 x 480 design canvas (the ``bench`` preset renders it 1:1, the
``test`` preset at half scale), so both presets show the same scene. The camera looks down on a
bench: a conveyor band along the top edge moves left to right, three parts bins sit on the left,
a fixture with a 2 x 2 grid of slots sits in the middle, and the worker's right arm enters from
below (shoulder off-screen, bottom right).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DESIGN_W = 640.0
DESIGN_H = 480.0

Point = tuple[float, float]


@dataclass(frozen=True)
class Layout:
    """Fixed scene geometry (design pixels; x right, y down)."""

    belt_y0: float = 0.0
    belt_y1: float = 86.0
    bins: tuple[tuple[float, float, float, float], ...] = (
        (26.0, 116.0, 176.0, 222.0),
        (26.0, 232.0, 176.0, 338.0),
        (26.0, 348.0, 176.0, 454.0),
    )  # (x0, y0, x1, y1) per bin
    fixture: tuple[float, float, float, float] = (282.0, 182.0, 462.0, 336.0)
    slots: tuple[Point, ...] = ((332.0, 228.0), (412.0, 228.0), (332.0, 292.0), (412.0, 292.0))
    slot_half: float = 17.0  # half side of a slot recess
    shoulder: Point = (540.0, 650.0)  # off-screen, below the bottom edge
    upper_arm_len: float = 300.0
    forearm_len: float = 285.0
    upper_arm_width: float = 74.0
    forearm_width: float = 58.0
    palm_len: float = 46.0
    palm_width: float = 50.0
    finger_len: float = 36.0
    finger_width: float = 13.0
    rest_center: Point = (440.0, 392.0)  # hand rest area centre
    rest_jitter: Point = (45.0, 28.0)
    part_size: float = 22.0  # a part's outer diameter

    @property
    def grip_offset(self) -> float:
        """Distance wrist -> grasp point along the hand axis (design px, depth scale 1)."""
        return self.palm_len + self.finger_len

    def bin_center(self, i: int) -> Point:
        x0, y0, x1, y1 = self.bins[i]
        return (0.5 * (x0 + x1), 0.5 * (y0 + y1))

    def belt_center_y(self) -> float:
        return 0.5 * (self.belt_y0 + self.belt_y1)


LAYOUT = Layout()


def unit(v: np.ndarray) -> np.ndarray:
    """``v`` scaled to length 1 (returns +x for a zero vector)."""
    n = float(np.hypot(v[0], v[1]))
    if n < 1e-9:
        return np.array([1.0, 0.0])
    return v / n


def approach_dir(target: Point, layout: Layout = LAYOUT) -> np.ndarray:
    """Unit vector from the shoulder toward ``target``: the direction the hand points there."""
    return unit(np.asarray(target, float) - np.asarray(layout.shoulder, float))


SHOULDER_BIAS = np.deg2rad(-6.0)  # the relaxed hand points slightly left of the arm line


def hand_heading(p: Point, layout: Layout = LAYOUT) -> float:
    """Relaxed hand axis angle (radians, image coordinates) with the grasp point at ``p``."""
    return float(np.arctan2(p[1] - layout.shoulder[1], p[0] - layout.shoulder[0]) + SHOULDER_BIAS)
