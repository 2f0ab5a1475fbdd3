"""Frame-pair motion for the point tracker (docs/method.md stage 2): dense DIS flow or sparse LK.

Coordinates: points are ``(x, y)`` in *continuous* pixel coordinates of the normalized frame,
where the image spans ``[0, w] x [0, h]`` and pixel ``(j, i)`` has its center at
``(j + 0.5, i + 0.5)``. OpenCV works in array coordinates (pixel centers at integers), so
``array = continuous - 0.5``.

Dense flow (``DisMover``) is computed ONCE per frame pair, forward and backward, on frames
area-downscaled by ``flow_downscale`` (DIS with finest scale 0 on those), and every active window
samples it bilinearly at its points. OpenCV's ``ultrafast``/``fast`` presets run DIS with finest
scale 2 internally, i.e. their flow lives on a 1/4-resolution grid too; downscaling first gives the
same flow grid for less work (measured ~1.8x faster at 426x320) and the downscaled frames also
serve the pixel-difference gate.

DIS splits its patch search into stripes by OpenCV's thread count; results were identical for 1
and 2 threads here, and the pipeline runs one OpenCV thread per worker (``cv2.setNumThreads(1)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

import cv2
import numpy as np

DisPreset = Literal["ultrafast", "fast", "medium"]

DIS_PRESETS: dict[str, int] = {
    "ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST,
    "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
    "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM,
}


def to_gray(image: np.ndarray) -> np.ndarray:
    """uint8 (H, W) gray from a uint8 (H, W) gray or (H, W, 3) RGB image."""
    if image.dtype != np.uint8:
        raise ValueError(f"frames must be uint8, got {image.dtype}")
    if image.ndim == 2:
        return image
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    raise ValueError(f"frames must be (H, W) or (H, W, 3), got shape {image.shape}")


def flow_size(frame_size: tuple[int, int], factor: int) -> tuple[int, int]:
    """(w, h) of the flow grid for normalized frames of ``frame_size`` downscaled by ``factor``."""
    w, h = frame_size
    if factor == 1:
        return w, h
    return max(8, round(w / factor)), max(8, round(h / factor))


def downscale(gray: np.ndarray, factor: int) -> np.ndarray:
    """Area-average ``gray`` (H, W) by ``factor`` to (round(H/f), round(W/f)), at least 8 px."""
    if factor == 1:
        return gray
    size = flow_size((gray.shape[1], gray.shape[0]), factor)
    return cv2.resize(gray, size, interpolation=cv2.INTER_AREA)


def mean_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 images, in gray levels (0..255)."""
    return float(cv2.absdiff(a, b).mean())


def sample_field(field_: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinearly sample an (h, w, 2) float32 field at (M, 2) continuous coords -> (M, 2) float64.

    Points outside the field take the value at the nearest border (replicate).
    """
    if len(points) == 0:
        return np.zeros((0, 2), np.float64)
    mx = (points[:, 0:1] - 0.5).astype(np.float32)
    my = (points[:, 1:2] - 0.5).astype(np.float32)
    out = cv2.remap(field_, mx, my, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(-1, 2).astype(np.float64)


@dataclass
class PreparedFrame:
    """A frame as the movers need it: full-size gray (None when the decoder delivered frames
    already at the flow grid's size; DIS only) and area-downscaled gray."""

    gray: np.ndarray | None  # (H, W) uint8
    small: np.ndarray  # (h, w) uint8, area-downscaled by flow_downscale
    frame_size: tuple[int, int] | None = None  # (W, H) of full-size frames when gray is None

    @property
    def scale(self) -> np.ndarray:
        """(2,) float64 full-size pixels per small pixel, x then y."""
        w, h = (
            (self.gray.shape[1], self.gray.shape[0])
            if self.gray is not None
            else (self.frame_size or (self.small.shape[1], self.small.shape[0]))
        )
        return np.array([w / self.small.shape[1], h / self.small.shape[0]])


@dataclass(frozen=True)
class PairMotion:
    """Motion of M points across one frame pair, in full-size pixels."""

    forward: np.ndarray  # (M, 2) float64 displacement prev -> cur, x then y
    backward: np.ndarray  # (M, 2) float64 displacement cur -> prev from the forward end point
    lost: np.ndarray  # (M,) bool: the tracker itself gave up (LK status 0)
    flow_magnitude: float  # mean motion magnitude of the pair, px (dense field or points)

    @staticmethod
    def still(num_points: int) -> PairMotion:
        """No motion at all (a gated pair)."""
        zeros = np.zeros((num_points, 2))
        return PairMotion(zeros, zeros, np.zeros(num_points, bool), 0.0)

    def consistent(self, threshold_px: float, relative: float) -> np.ndarray:
        """(M,) bool forward-backward check (Sundaram et al. 2010, with an absolute floor):
        ``|f + b|^2 <= relative * (|f|^2 + |b|^2) + threshold_px^2`` and not lost.
        """
        f, b = self.forward, self.backward
        e = f + b
        err2 = np.einsum("ij,ij->i", e, e)  # row-wise squared norms, cheaper than square+sum
        tol2 = relative * (np.einsum("ij,ij->i", f, f) + np.einsum("ij,ij->i", b, b))
        return (err2 <= tol2 + threshold_px**2) & ~self.lost


class PointMover(Protocol):
    """Moves points from ``prev`` to ``cur``; one call per frame pair for all active windows."""

    def move(self, prev: PreparedFrame, cur: PreparedFrame, points: np.ndarray) -> PairMotion: ...


class DisMover:
    """Dense DIS flow (forward + backward) on the downscaled frames, sampled at the points.

    The backward field only serves the forward-backward visibility check, so it may be computed
    on a coarser grid (``backward_finest_scale`` 1 = half the forward resolution, ~4x cheaper).
    """

    def __init__(
        self,
        preset: DisPreset,
        patch_stride: int | None = None,
        backward_finest_scale: int = 0,
        gd_iterations: int | None = None,
    ) -> None:
        if preset not in DIS_PRESETS:
            raise ValueError(f"unknown DIS preset {preset!r}; expected one of {list(DIS_PRESETS)}")
        self._dis = self._make(preset, patch_stride, 0, gd_iterations)  # frames are downscaled
        self._dis_back = (
            self._dis
            if backward_finest_scale == 0
            else self._make(preset, patch_stride, backward_finest_scale, gd_iterations)
        )

    @staticmethod
    def _make(
        preset: DisPreset, patch_stride: int | None, finest_scale: int, gd_iterations: int | None
    ):
        dis = cv2.DISOpticalFlow_create(DIS_PRESETS[preset])
        dis.setFinestScale(finest_scale)
        if gd_iterations is not None:
            dis.setGradientDescentIterations(gd_iterations)
        if patch_stride is not None:
            if not 1 <= patch_stride <= dis.getPatchSize():
                raise ValueError(f"patch_stride={patch_stride} outside 1..patch size")
            dis.setPatchStride(patch_stride)
        return dis

    def move(self, prev: PreparedFrame, cur: PreparedFrame, points: np.ndarray) -> PairMotion:
        scale = prev.scale
        fwd = self._dis.calc(prev.small, cur.small, None)  # (h, w, 2) small px
        bwd = self._dis_back.calc(cur.small, prev.small, None)
        p_small = points / scale
        d_small = sample_field(fwd, p_small)
        back = sample_field(bwd, p_small + d_small)
        sx, sy = float(scale[0]), float(scale[1])
        magnitude = float(cv2.magnitude(fwd[..., 0] * sx, fwd[..., 1] * sy).mean())
        return PairMotion(d_small * scale, back * scale, np.zeros(len(points), bool), magnitude)


class LkMover:
    """Pyramidal Lucas-Kanade on the full-size frames, forward then backward from the result.

    ``flow_magnitude`` is the mean displacement of the tracked points (LK has no dense field).
    """

    def __init__(self, win_size: int, max_level: int) -> None:
        self._win = (win_size, win_size)
        self._max_level = max_level
        self._criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 20, 0.03)

    def _lk(self, a: np.ndarray, b: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        nxt, status, _ = cv2.calcOpticalFlowPyrLK(
            a, b, p, None, winSize=self._win, maxLevel=self._max_level, criteria=self._criteria
        )
        return nxt, status.reshape(-1).astype(bool)

    def move(self, prev: PreparedFrame, cur: PreparedFrame, points: np.ndarray) -> PairMotion:
        if len(points) == 0:
            return PairMotion.still(0)
        p0 = (points - 0.5).astype(np.float32).reshape(-1, 1, 2)
        pa, pb = prev.gray, cur.gray
        p1, ok_fwd = self._lk(pa, pb, p0)
        p0_back, ok_bwd = self._lk(pb, pa, p1)
        disp = (p1 - p0).reshape(-1, 2).astype(np.float64)
        back = (p0_back - p1).reshape(-1, 2).astype(np.float64)
        lost = ~(ok_fwd & ok_bwd)
        disp[lost] = 0.0
        back[lost] = 0.0
        good = ~lost
        magnitude = float(np.linalg.norm(disp[good], axis=1).mean()) if good.any() else 0.0
        return PairMotion(disp, back, lost, magnitude)
