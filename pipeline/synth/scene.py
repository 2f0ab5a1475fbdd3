"""Static workstation background and the conveyor, drawn at the output resolution.

``k`` is output px per design px. Per frame only the belt, the parts on it or in the fixture,
and the arm are drawn over a copy of the static background.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from pipeline.synth import textures
from pipeline.synth.layout import LAYOUT, Layout
from pipeline.synth.parts import SHIFT, draw_box, draw_part, fx
from pipeline.synth.script import N_PART_KINDS, Script

SCENE_STREAM = 3
BOX = -1  # kind of a cardboard box riding the belt


@dataclass(frozen=True)
class BeltItem:
    """Something riding the conveyor: at design x ``x0`` at time ``t0`` (s), then moving."""

    kind: int  # part kind or BOX
    x0: float
    y: float
    angle: float
    t0: float
    size: float  # design px


@dataclass(frozen=True)
class Scene:
    """Everything static about one video's look, at output resolution."""

    k: float
    background: np.ndarray  # (H, W, 3) uint8 RGB
    belt_strip: np.ndarray  # (belt_h, W + period, 3) periodic along x
    belt_period: int  # px
    belt_speed: float  # design px / s, +x
    items: tuple[BeltItem, ...]


def _shadowed_rect(img: np.ndarray, box: tuple[float, ...], k: float, color, off: float) -> None:
    """Filled rectangle (design box) with a soft drop shadow ``off`` design px down-right."""
    x0, y0, x1, y1 = (v * k for v in box)
    mask: np.ndarray = np.zeros(img.shape[:2], np.float32)
    cv2.rectangle(
        mask,
        (fx(x0 + off * k), fx(y0 + off * k)),
        (fx(x1 + off * k), fx(y1 + off * k)),
        1.0,
        -1,
        cv2.LINE_AA,
        SHIFT,
    )
    mask = cv2.GaussianBlur(mask, (0, 0), 3 * k)
    img[:] = (img * (1.0 - 0.45 * mask[:, :, None])).astype(np.uint8)
    cv2.rectangle(img, (fx(x0), fx(y0)), (fx(x1), fx(y1)), color, -1, cv2.LINE_AA, SHIFT)


def _bins(img: np.ndarray, k: float, lay: Layout, rng: np.random.Generator) -> None:
    for i, box in enumerate(lay.bins):
        _shadowed_rect(img, box, k, (36, 62, 128), 6.0)
        x0, y0, x1, y1 = box
        inner = (x0 + 8, y0 + 8, x1 - 8, y1 - 8)
        cv2.rectangle(
            img,
            (fx(inner[0] * k), fx(inner[1] * k)),
            (fx(inner[2] * k), fx(inner[3] * k)),
            (58, 92, 160),
            -1,
            cv2.LINE_AA,
            SHIFT,
        )
        for _ in range(34):  # a pile of parts of this bin's kind
            c = (
                rng.uniform(inner[0] + 10, inner[2] - 10) * k,
                rng.uniform(inner[1] + 10, inner[3] - 10) * k,
            )
            draw_part(
                img, i % N_PART_KINDS, c, rng.uniform(0, 2 * math.pi), 0.5 * lay.part_size * k
            )


def _fixture(img: np.ndarray, k: float, lay: Layout, rng: np.random.Generator) -> None:
    _shadowed_rect(img, lay.fixture, k, (90, 90, 96), 7.0)
    x0, y0, x1, y1 = (int(round(v * k)) for v in lay.fixture)
    img[y0 + 2 : y1 - 2, x0 + 2 : x1 - 2] = textures.metal(y1 - y0 - 4, x1 - x0 - 4, k, rng)
    for sx, sy in lay.slots:
        r = lay.slot_half
        cv2.rectangle(
            img,
            (fx((sx - r) * k), fx((sy - r) * k)),
            (fx((sx + r) * k), fx((sy + r) * k)),
            (64, 64, 70),
            -1,
            cv2.LINE_AA,
            SHIFT,
        )
        cv2.rectangle(
            img,
            (fx((sx - r + 3) * k), fx((sy - r + 3) * k)),
            (fx((sx + r) * k), fx((sy + r) * k)),
            (44, 44, 50),
            -1,
            cv2.LINE_AA,
            SHIFT,
        )
    fx0, fy0, fx1, fy1 = lay.fixture
    for bx, by in (
        (fx0 + 10, fy0 + 10),
        (fx1 - 10, fy0 + 10),
        (fx0 + 10, fy1 - 10),
        (fx1 - 10, fy1 - 10),
    ):
        cv2.circle(img, (fx(bx * k), fx(by * k)), fx(5 * k), (60, 60, 66), -1, cv2.LINE_AA, SHIFT)
        cv2.circle(
            img, (fx(bx * k), fx(by * k)), fx(2 * k), (200, 200, 206), -1, cv2.LINE_AA, SHIFT
        )


def _clutter(img: np.ndarray, k: float, lay: Layout, rng: np.random.Generator) -> None:
    """A work-instruction sheet and a rail along the belt."""
    x, y = rng.uniform(200, 250), rng.uniform(372, 400)
    _shadowed_rect(img, (x, y, x + 110, y + 70), k, (236, 236, 228), 3.0)
    for row in range(6):
        yy = (y + 12 + row * 9) * k
        cv2.line(
            img,
            (fx((x + 10) * k), fx(yy)),
            (fx((x + rng.uniform(50, 100)) * k), fx(yy)),
            (90, 90, 100),
            1,
            cv2.LINE_AA,
            SHIFT,
        )
    y1 = lay.belt_y1
    cv2.rectangle(
        img,
        (0, fx(y1 * k)),
        (fx(img.shape[1]), fx((y1 + 7) * k)),
        (150, 152, 160),
        -1,
        cv2.LINE_AA,
        SHIFT,
    )
    for bx in np.arange(20.0, 640.0, 80.0):
        cv2.circle(
            img, (fx(bx * k), fx((y1 + 3.5) * k)), fx(2 * k), (80, 80, 86), -1, cv2.LINE_AA, SHIFT
        )


def _belt_items(duration: float, speed: float, rng: np.random.Generator) -> tuple[BeltItem, ...]:
    """Boxes and stray parts riding through, the belt already populated at t = 0."""
    items, t = [], -700.0 / speed
    lay = LAYOUT
    while t < duration:
        kind = BOX if rng.random() < 0.5 else int(rng.integers(N_PART_KINDS))
        size = rng.uniform(34, 50) if kind == BOX else lay.part_size
        y = lay.belt_center_y() + rng.uniform(-20, 20)
        items.append(BeltItem(kind, -40.0, float(y), float(rng.uniform(-0.4, 0.4)), t, size))
        t += float(rng.uniform(1.5, 5.0))
    return tuple(items)


def build_scene(
    width: int, height: int, duration: float, rng: np.random.Generator, layout: Layout = LAYOUT
) -> Scene:
    """Render the static background and belt texture for a ``width`` x ``height`` video."""
    k = width / 640.0
    img = textures.wood(height, width, k, rng)
    _bins(img, k, layout, rng)
    _fixture(img, k, layout, rng)
    _clutter(img, k, layout, rng)
    belt_h = int(round((layout.belt_y1 - layout.belt_y0) * k))
    period = max(int(round(96 * k)), 8)
    tile = textures.belt_tile(belt_h, period, k, rng)
    strip = np.tile(tile, (1, int(math.ceil(width / period)) + 2, 1))
    speed = float(rng.uniform(35.0, 70.0))
    return Scene(
        k, img, np.ascontiguousarray(strip), period, speed, _belt_items(duration, speed, rng)
    )


def draw_belt(img: np.ndarray, scene: Scene, t_sec: float, layout: Layout = LAYOUT) -> None:
    """Scroll the belt texture to time ``t_sec`` (sub-pixel) into its band of ``img``."""
    y0 = int(round(layout.belt_y0 * scene.k))
    band = img[y0 : y0 + scene.belt_strip.shape[0]]
    shift = (scene.belt_speed * scene.k * t_sec) % scene.belt_period
    m = np.array([[1.0, 0.0, scene.belt_period - shift], [0.0, 1.0, 0.0]])
    cv2.warpAffine(
        scene.belt_strip,
        m,
        (band.shape[1], band.shape[0]),
        dst=band,
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
    )


@dataclass(frozen=True)
class Riders:
    """Everything on the belt (distractors and dropped parts), indexed for fast lookup."""

    items: tuple[BeltItem, ...]
    t0: np.ndarray  # (n,) s
    x0: np.ndarray  # (n,) design px

    @classmethod
    def of(cls, scene: Scene, script: Script) -> Riders:
        drops = tuple(
            BeltItem(d.kind, d.pos[0], d.pos[1], d.angle, d.frame / script.fps, LAYOUT.part_size)
            for d in script.drops
        )
        items = scene.items + drops
        return cls(items, np.array([i.t0 for i in items]), np.array([i.x0 for i in items]))

    def visible(self, t_sec: float, speed: float) -> list[tuple[BeltItem, float]]:
        """(item, current design x) of items on screen at ``t_sec``."""
        x = self.x0 + speed * (t_sec - self.t0)
        idx = np.flatnonzero((self.t0 <= t_sec) & (x > -60.0) & (x < 700.0))
        return [(self.items[i], float(x[i])) for i in idx]


def draw_riding(img: np.ndarray, scene: Scene, riders: Riders, t_sec: float) -> None:
    """Belt items and dropped parts at their positions at ``t_sec``."""
    k = scene.k
    for it, x in riders.visible(t_sec, scene.belt_speed):
        if it.kind == BOX:
            draw_box(img, (x * k, it.y * k), it.angle, it.size * k)
        else:
            draw_part(img, it.kind, (x * k, it.y * k), it.angle, 0.5 * it.size * k)


def draw_fixture_parts(img: np.ndarray, scene: Scene, script: Script, frame: int) -> None:
    """Parts sitting in fixture slots at ``frame``."""
    for p in script.placements:
        if p.start <= frame < p.end:
            draw_part(
                img,
                p.kind,
                (p.pos[0] * scene.k, p.pos[1] * scene.k),
                p.angle,
                0.5 * LAYOUT.part_size * scene.k,
            )
