"""A seeded per-video camera: height, tilt and roll as a homography of the rendered frame.

The renderer draws the workstation as seen by a camera looking straight down at the bench (the
bench is the plane z = 0, the camera at distance ``f`` px above its centre, intrinsics ``f``
and the image centre). A :class:`Camera` moves that camera: it orbits about the bench centre by
``tilt_deg`` about the image x axis toward the worker (the camera hangs above and behind the
worker and looks forward and down, so the far edge, the conveyor, shrinks and the near edge
grows), its distance becomes ``f / scale`` (``scale`` > 1: a lower camera, everything larger),
and it turns by ``roll_deg`` about its optical axis. The bench is a plane, so the new view is
the old frame warped by one homography (:func:`homography`); pixels that the old frame does not
cover are filled with one colour of the scene (the mean of its static background).

The camera is drawn once per video (``CAMERA_STREAM``) and stays for the whole video; shake,
flicker and noise (``nuisance``) are applied after it, to the camera's image. Ground truth is
about time only, so the camera leaves it unchanged; its parameters go into the ``meta`` of the
ground-truth file and into ``<stem>.synth.json``. ``tilt 0, scale 1, roll 0`` is the identity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.synth.script import rng_for

CAMERA_STREAM = 8  # seed stream id (see ``script.rng_for``)
TILT_DEG = (0.0, 35.0)
SCALE = (0.8, 1.25)  # drawn log-uniformly
ROLL_DEG = (-5.0, 5.0)
HFOV_DEG = 60.0  # horizontal field of view of the camera: f = 0.5 * width / tan(hfov / 2)


@dataclass(frozen=True)
class Camera:
    """One video's camera: orbit tilt (degrees), zoom by height (``scale``), roll (degrees)."""

    tilt_deg: float = 0.0
    scale: float = 1.0
    roll_deg: float = 0.0
    hfov_deg: float = HFOV_DEG

    def focal_px(self, width: int) -> float:
        return 0.5 * width / math.tan(math.radians(0.5 * self.hfov_deg))

    def to_meta(self, width: int, height: int) -> dict:
        return {
            "tilt_deg": self.tilt_deg,
            "scale": self.scale,
            "roll_deg": self.roll_deg,
            "hfov_deg": self.hfov_deg,
            "focal_px": self.focal_px(width),
            "homography": [[float(x) for x in row] for row in homography(self, width, height)],
        }


def draw_camera(seed: int) -> Camera:
    """The camera of the video of ``seed`` (its own seed stream: nothing else changes)."""
    rng = rng_for(seed, CAMERA_STREAM)
    tilt = float(rng.uniform(*TILT_DEG))
    scale = float(math.exp(rng.uniform(math.log(SCALE[0]), math.log(SCALE[1]))))
    roll = float(rng.uniform(*ROLL_DEG))
    return Camera(tilt, scale, roll)


def homography(cam: Camera, width: int, height: int) -> np.ndarray:
    """3 x 3 matrix taking a pixel of the rendered (straight-down) frame to the camera's image.

    Pixel coordinates are OpenCV's (the centre of the top-left pixel is (0, 0)); the principal
    point is the image centre ``((width - 1) / 2, (height - 1) / 2)``.
    """
    f = cam.focal_px(width)
    cx, cy = 0.5 * (width - 1), 0.5 * (height - 1)
    t, r = math.radians(cam.tilt_deg), math.radians(cam.roll_deg)
    dist = f / cam.scale
    centre = dist * np.array([0.0, math.sin(t), -math.cos(t)])  # camera centre, bench units
    z = -centre / dist  # optical axis, toward the bench centre
    x0 = np.array([1.0, 0.0, 0.0])
    y0 = np.cross(z, x0)
    x_c = math.cos(r) * x0 + math.sin(r) * y0
    y_c = -math.sin(r) * x0 + math.cos(r) * y0
    rot = np.stack([x_c, y_c, z])  # world -> camera
    k = np.array([[f, 0.0, cx], [0.0, f, cy], [0.0, 0.0, 1.0]])
    plane_to_img = k @ np.column_stack([rot[:, 0], rot[:, 1], -rot @ centre])
    img_to_plane = np.array([[1.0, 0.0, -cx], [0.0, 1.0, -cy], [0.0, 0.0, 1.0]])  # bench units
    h = plane_to_img @ img_to_plane
    return h / h[2, 2]


def map_points(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Points (n, 2) of the rendered frame -> where the camera shows them (n, 2)."""
    p = np.column_stack([np.asarray(pts, float), np.ones(len(pts))]) @ h.T
    return p[:, :2] / p[:, 2:3]


def border_colour(background: np.ndarray) -> tuple[float, float, float]:
    """The fill of pixels outside the rendered frame: the mean colour of the static scene."""
    m = background.reshape(-1, background.shape[2]).mean(axis=0)
    return (float(round(m[0])), float(round(m[1])), float(round(m[2])))


@dataclass(frozen=True)
class CameraView:
    """A video's camera ready to apply: its homography and border fill for this frame size."""

    camera: Camera
    h: np.ndarray
    fill: tuple[float, float, float]

    def apply(self, img: np.ndarray) -> np.ndarray:
        return apply_camera(img, self.h, self.fill)


def camera_view(cam: Camera, background: np.ndarray) -> CameraView:
    hgt, wid = background.shape[:2]
    return CameraView(cam, homography(cam, wid, hgt), border_colour(background))


def apply_camera(img: np.ndarray, h: np.ndarray, fill: tuple[float, float, float]) -> np.ndarray:
    """``img`` seen through the camera of homography ``h`` (same size, bilinear)."""
    hgt, wid = img.shape[:2]
    return cv2.warpPerspective(
        img,
        h,
        (wid, hgt),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=fill,
    )
