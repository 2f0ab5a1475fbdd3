"""``WindowTracks``: the per-window output of point tracking (docs/method.md stage 2).

Conventions, one for every consumer:
- points are an S x S grid seeded over the whole frame at each window start, point ``n`` at
  column ``n % S`` and row ``n // S`` (row-major, x varies fastest), centers at
  ``((i + 0.5) / S * w, (j + 0.5) / S * h)`` in continuous pixel coordinates;
- normalized units are per axis: ``x / w * 2 - 1`` and ``y / h * 2 - 1`` with the normalized
  frame's own width and height, so a velocity of 1.0 in x is half the frame width per step;
- every window is keyed by its global ``window_index``; a gated (idle) window stays a row.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

_INT_FIELDS = ("window_index", "start_frame", "end_frame")
_FLOAT64_FIELDS = ("start_sec", "end_sec")
_BOOL_FIELDS = ("gated", "camera_compensated")
_FLOAT32_FIELDS = ("global_motion_share", "track_speed", "flow_magnitude", "pixel_diff")
PER_WINDOW_FIELDS = _INT_FIELDS + _FLOAT64_FIELDS + _BOOL_FIELDS + _FLOAT32_FIELDS
ARRAY_FIELDS = ("frame_indices", "velocities", "visibility", *PER_WINDOW_FIELDS)


def seed_grid(width: int, height: int, grid_size: int) -> np.ndarray:
    """(S*S, 2) float64 grid point centers in continuous pixel coords, row-major, x then y."""
    if width <= 0 or height <= 0 or grid_size < 1:
        raise ValueError(f"invalid grid request {width}x{height}, grid_size={grid_size}")
    xs = (np.arange(grid_size) + 0.5) / grid_size * width
    ys = (np.arange(grid_size) + 0.5) / grid_size * height
    gx, gy = np.meshgrid(xs, ys)
    return np.stack([gx.ravel(), gy.ravel()], axis=1)


def to_normalized(points_px: np.ndarray, width: int, height: int) -> np.ndarray:
    """Continuous pixel coords (..., 2) -> per-axis normalized [-1, 1] coords (..., 2)."""
    return points_px / np.array([width, height], np.float64) * 2.0 - 1.0


@dataclass
class WindowTracks:
    """Tracks of W windows of T frames and N points. Shapes are checked when built."""

    window_index: np.ndarray  # (W,) int64 global window index
    frame_indices: np.ndarray  # (W, T) int64 source frame indexes of each window's frames
    start_frame: np.ndarray  # (W,) int64 source index of the first frame
    end_frame: np.ndarray  # (W,) int64 source index of the last frame (inclusive)
    start_sec: np.ndarray  # (W,) float64 source index / source fps of the first frame
    end_sec: np.ndarray  # (W,) float64 same for the last frame
    velocities: np.ndarray  # (W, T-1, N, 2) float32 normalized units per step, x then y
    visibility: np.ndarray  # (W, T, N) bool
    gated: np.ndarray  # (W,) bool: every frame pair under the pixel-difference gate (idle)
    camera_compensated: np.ndarray  # (W,) bool: per-step median velocity subtracted
    global_motion_share: np.ndarray  # (W,) float32 |median velocity| / mean |velocity|
    track_speed: np.ndarray  # (W,) float32 mean |velocity|, normalized units per step
    flow_magnitude: np.ndarray  # (W,) float32 mean flow magnitude over the pairs, px per step
    pixel_diff: np.ndarray  # (W,) float32 mean abs gray difference over the pairs (0..255)
    frame_size: tuple[int, int]  # (width, height) of the normalized frames

    def __post_init__(self) -> None:
        self.frame_size = (int(self.frame_size[0]), int(self.frame_size[1]))
        for name in _INT_FIELDS + ("frame_indices",):
            setattr(self, name, np.asarray(getattr(self, name), np.int64))
        for name in _FLOAT64_FIELDS:
            setattr(self, name, np.asarray(getattr(self, name), np.float64))
        for name in _BOOL_FIELDS + ("visibility",):
            setattr(self, name, np.asarray(getattr(self, name), bool))
        for name in _FLOAT32_FIELDS + ("velocities",):
            setattr(self, name, np.asarray(getattr(self, name), np.float32))
        self._check_shapes()

    def _check_shapes(self) -> None:
        w = len(self.window_index)
        if self.velocities.ndim != 4 or self.velocities.shape[3] != 2:
            raise ValueError(f"velocities must be (W, T-1, N, 2), got {self.velocities.shape}")
        _, steps, n, _ = self.velocities.shape
        expected = {
            "frame_indices": (w, steps + 1),
            "velocities": (w, steps, n, 2),
            "visibility": (w, steps + 1, n),
            **{name: (w,) for name in PER_WINDOW_FIELDS},
        }
        bad = {
            k: getattr(self, k).shape for k, s in expected.items() if getattr(self, k).shape != s
        }
        if bad:
            raise ValueError(f"inconsistent WindowTracks shapes {bad}; expected {expected}")

    def __len__(self) -> int:
        return len(self.window_index)

    @property
    def window_frames(self) -> int:
        """T, frames per window."""
        return self.velocities.shape[1] + 1

    @property
    def num_points(self) -> int:
        """N, points per window."""
        return self.velocities.shape[2]

    def seed_positions(self) -> np.ndarray:
        """(N, 2) float64 normalized seed grid (the same for every window)."""
        side = math.isqrt(self.num_points)
        if side * side != self.num_points:
            raise ValueError(f"num_points={self.num_points} is not a square grid")
        return to_normalized(seed_grid(*self.frame_size, side), *self.frame_size)

    def positions(self) -> np.ndarray:
        """(W, T, N, 2) float64 normalized positions: seed grid + cumulative velocities.

        For camera-compensated windows these are positions relative to the camera motion.
        """
        seed = self.seed_positions()
        steps = np.cumsum(self.velocities.astype(np.float64), axis=1)
        out = np.empty((len(self), self.window_frames, self.num_points, 2))
        out[:, 0] = seed
        out[:, 1:] = seed + steps
        return out

    @staticmethod
    def empty(window_frames: int, num_points: int, frame_size: tuple[int, int]) -> WindowTracks:
        """Zero windows of the given T and N."""
        z = np.zeros(0)
        return WindowTracks(
            window_index=z, frame_indices=np.zeros((0, window_frames)),
            start_frame=z, end_frame=z, start_sec=z, end_sec=z,
            velocities=np.zeros((0, window_frames - 1, num_points, 2)),
            visibility=np.zeros((0, window_frames, num_points)),
            gated=z, camera_compensated=z, global_motion_share=z, track_speed=z,
            flow_magnitude=z, pixel_diff=z, frame_size=frame_size,
        )  # fmt: skip

    @staticmethod
    def concat(parts: list[WindowTracks]) -> WindowTracks:
        """Windows of all parts in order. T, N and frame_size must agree (empty parts aside)."""
        if not parts:
            raise ValueError("concat needs at least one WindowTracks")
        full = [p for p in parts if len(p)] or parts[:1]
        shapes = {(p.window_frames, p.num_points, p.frame_size) for p in full}
        if len(shapes) > 1:
            raise ValueError(f"cannot concat tracks of different (T, N, frame_size): {shapes}")
        arrays = {name: np.concatenate([getattr(p, name) for p in full]) for name in ARRAY_FIELDS}
        return WindowTracks(**arrays, frame_size=full[0].frame_size)

    def equals(self, other: WindowTracks) -> bool:
        """Exact equality of every array (dtype and values) and of frame_size."""
        for f in fields(self):
            a, b = getattr(self, f.name), getattr(other, f.name)
            if f.name == "frame_size":
                if a != b:
                    return False
            elif a.dtype != b.dtype or not np.array_equal(a, b):
                return False
        return True
