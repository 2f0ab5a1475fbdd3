"""The worker's arm: two-link inverse kinematics and textured drawing of sleeve, glove, fingers.

Limbs are textured rectangles pasted with an affine warp (the texture moves with the limb, so
flow can track it). Coordinates here are output pixels unless a name says ``design``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.synth.layout import LAYOUT, Layout
from pipeline.synth.parts import SHIFT, draw_part, fx


@dataclass(frozen=True)
class ArmPose:
    """Joint positions (design px) and hand state of one frame."""

    shoulder: np.ndarray
    elbow: np.ndarray
    wrist: np.ndarray
    grasp: np.ndarray
    heading: float
    openness: float
    scale: float


def solve_arm(
    grasp: np.ndarray, heading: float, openness: float, scale: float, layout: Layout = LAYOUT
) -> ArmPose:
    """Place wrist behind the grasp point along ``heading``; elbow by two-link IK (bent outward).

    A wrist out of reach moves the (off-screen) shoulder along the arm line: the worker leans
    in or back, so the limbs always keep their lengths.
    """
    sh = np.asarray(layout.shoulder, float)
    h = np.array([math.cos(heading), math.sin(heading)])
    wrist = grasp - h * layout.grip_offset * scale
    l1, l2 = layout.upper_arm_len, layout.forearm_len
    v = wrist - sh
    d = float(np.hypot(v[0], v[1]))
    u = v / d if d > 1e-9 else np.array([0.0, -1.0])
    d_ok = float(np.clip(d, abs(l1 - l2) + 1.0, l1 + l2 - 1.0))
    sh = sh + u * (d - d_ok)  # lean
    a = (l1 * l1 - l2 * l2 + d_ok * d_ok) / (2.0 * d_ok)
    side = math.sqrt(max(l1 * l1 - a * a, 0.0))
    normal = np.array([-u[1], u[0]])
    elbow = sh + a * u + side * normal
    return ArmPose(sh, elbow, wrist, grasp, heading, openness, scale)


def paste_quad(
    dst: np.ndarray, tex: np.ndarray, p0: np.ndarray, p1: np.ndarray, width: float
) -> None:
    """Warp ``tex`` (th, tw, 3; x along the limb) onto the rectangle p0 -> p1 of ``width`` px.

    Only pixels inside the rectangle change (``BORDER_TRANSPARENT``); work is limited to the
    rectangle's bounding box.
    """
    th, tw = tex.shape[:2]
    axis = p1 - p0
    length = float(np.hypot(axis[0], axis[1]))
    if length < 1e-6 or width < 1e-6:
        return
    ex = axis / length
    ey = np.array([-ex[1], ex[0]])
    origin = p0 - 0.5 * width * ey
    corners = np.array([origin, origin + axis, origin + axis + width * ey, origin + width * ey])
    hgt, wid = dst.shape[:2]
    x0, y0 = np.floor(corners.min(axis=0)).astype(int) - 1
    x1, y1 = np.ceil(corners.max(axis=0)).astype(int) + 2
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, wid), min(y1, hgt)
    if x1 <= x0 or y1 <= y0:
        return
    lin = np.column_stack([ex * (length / tw), ey * (width / th)])  # texture px -> output px
    off = origin - np.array([x0, y0]) + lin @ np.array([0.5, 0.5]) - 0.5
    m = np.hstack([lin, off[:, None]])
    roi = dst[y0:y1, x0:x1]
    cv2.warpAffine(
        tex,
        m,
        (x1 - x0, y1 - y0),
        dst=roi,
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_TRANSPARENT,
    )


@dataclass(frozen=True)
class ArmLook:
    """Textures of one worker (output resolution) and the output px per design px ``k``."""

    k: float
    upper: np.ndarray
    fore: np.ndarray
    palm: np.ndarray
    finger: np.ndarray
    sleeve_color: tuple[int, int, int]
    glove_color: tuple[int, int, int]


def _fingers(pose: ArmPose, layout: Layout) -> list[tuple[np.ndarray, np.ndarray]]:
    """(knuckle, tip) of two fingers and the thumb, design px; spread grows with openness."""
    s, h = pose.scale, np.array([math.cos(pose.heading), math.sin(pose.heading)])
    n = np.array([-h[1], h[0]])
    out = []
    for lateral, side, gain in ((0.34, 1.0, 1.0), (0.1, 1.0, 0.75), (0.34, -1.0, 1.0)):
        knuckle = (
            pose.wrist
            + h * layout.palm_len * 0.92 * s
            + n * side * lateral * (layout.palm_width * s)
        )
        ang = side * math.radians(-24.0 + 46.0 * pose.openness) * gain
        d = h * math.cos(ang) + n * math.sin(ang)
        out.append((knuckle, knuckle + d * layout.finger_len * s))
    return out


SHADOW_OFFSET = np.array([9.0, 12.0])  # design px: light from the top left
SHADOW_GAIN = 0.7


def _rect(p0: np.ndarray, p1: np.ndarray, width: float) -> np.ndarray:
    """Corners (4, 2) of the rectangle p0 -> p1 of ``width``."""
    ax = p1 - p0
    n = np.array([-ax[1], ax[0]]) / max(float(np.hypot(ax[0], ax[1])), 1e-9) * 0.5 * width
    return np.array([p0 + n, p1 + n, p1 - n, p0 - n])


def draw_shadow(img: np.ndarray, pose: ArmPose, k: float, layout: Layout = LAYOUT) -> None:
    """Darken the bench under the arm: its outline shifted by ``SHADOW_OFFSET`` (hard edge)."""
    h = np.array([math.cos(pose.heading), math.sin(pose.heading)])
    tip = pose.wrist + h * layout.grip_offset * pose.scale
    rects = [
        _rect(pose.shoulder, pose.elbow, layout.upper_arm_width),
        _rect(pose.elbow, pose.wrist, layout.forearm_width),
        _rect(pose.wrist, tip, layout.palm_width * pose.scale),
    ]
    pts = [(r + SHADOW_OFFSET) * k for r in rects]
    allp = np.concatenate(pts)
    hgt, wid = img.shape[:2]
    x0, y0 = np.maximum(np.floor(allp.min(axis=0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(allp.max(axis=0)).astype(int) + 1, (wid, hgt))
    if x1 <= x0 or y1 <= y0:
        return
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    for p in pts:
        cv2.fillConvexPoly(
            mask, np.round((p - (x0, y0)) * (1 << SHIFT)).astype(np.int32), 255, cv2.LINE_8, SHIFT
        )
    cv2.circle(
        mask,
        (
            fx((pose.elbow[0] + SHADOW_OFFSET[0]) * k - x0),
            fx((pose.elbow[1] + SHADOW_OFFSET[1]) * k - y0),
        ),
        fx(0.5 * layout.forearm_width * k),
        255,
        -1,
        cv2.LINE_8,
        SHIFT,
    )
    roi = img[y0:y1, x0:x1]
    cv2.copyTo(cv2.convertScaleAbs(roi, alpha=SHADOW_GAIN), mask, roi)


def draw_arm(
    img: np.ndarray, pose: ArmPose, look: ArmLook, held_kind: int | None, layout: Layout = LAYOUT
) -> None:
    """Draw the arm's shadow, upper arm, forearm, palm, the held part (if any) and fingers."""
    k = look.k
    draw_shadow(img, pose, k, layout)
    sh, el, wr = pose.shoulder * k, pose.elbow * k, pose.wrist * k
    paste_quad(img, look.upper, sh, el, layout.upper_arm_width * k)
    cv2.circle(
        img,
        (fx(el[0]), fx(el[1])),
        fx(0.5 * layout.forearm_width * k),
        look.sleeve_color,
        -1,
        cv2.LINE_AA,
        SHIFT,
    )
    paste_quad(img, look.fore, el, wr + (wr - el) * 0.04, layout.forearm_width * k)
    h = np.array([math.cos(pose.heading), math.sin(pose.heading)])
    palm_end = pose.wrist + h * layout.palm_len * pose.scale
    paste_quad(img, look.palm, wr - h * 6.0 * k, palm_end * k, layout.palm_width * pose.scale * k)
    if held_kind is not None:
        g = pose.grasp * k
        draw_part(
            img, held_kind, (g[0], g[1]), pose.heading, 0.5 * layout.part_size * pose.scale * k
        )
    for knuckle, tip in _fingers(pose, layout):
        paste_quad(img, look.finger, knuckle * k, tip * k, layout.finger_width * pose.scale * k)
        cv2.circle(
            img,
            (fx(tip[0] * k), fx(tip[1] * k)),
            fx(0.5 * layout.finger_width * pose.scale * k),
            look.glove_color,
            -1,
            cv2.LINE_AA,
            SHIFT,
        )
