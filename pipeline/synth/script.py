"""The primitive schedule of one synthetic video: what the worker does, frame by frame.

The script is the ground truth. Every step covers whole frames ``[start, end)`` of the video, so
segment boundaries fall exactly on frame times ``frame / fps``. Positions are design pixels
(see ``layout``). A cycle is reach -> grasp -> transport -> insert -> (screw) -> release ->
retract (assembly: bin -> fixture slot) or reach -> grasp -> transport -> release -> retract
(unload: fixture slot -> conveyor). Between primitives there is sometimes an idle pause.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field, replace

import numpy as np

from pipeline.synth.layout import LAYOUT, Layout, Point, approach_dir, hand_heading

log = logging.getLogger(__name__)

LABELS: tuple[str, ...] = (
    "reach",
    "grasp",
    "transport",
    "insert",
    "screw",
    "release",
    "retract",
    "idle",
)
N_PART_KINDS = 3  # one kind per bin
OPEN_REST, OPEN_FULL, OPEN_HOLD = 0.55, 1.0, 0.12
SCRIPT_STREAM = 1  # seed stream id of the schedule (see ``rng_for``)


def rng_for(seed: int, stream: int) -> np.random.Generator:
    """Independent generator for one concern (script, motion, scene, nuisances) of a video."""
    return np.random.default_rng(np.random.SeedSequence([int(seed), int(stream)]))


@dataclass(frozen=True)
class Step:
    """One primitive over frames ``[start, end)``; the hand goes from state 0 to state 1.

    ``profile``: ``still`` (idle), ``minjerk`` (point to point, lateral ``arc`` bulge in design
    px), ``push`` (fast start, long slowing), ``screw`` (wrist oscillation at ``freq_hz`` with
    ``amp_deg`` amplitude and a ``radius`` px circular hand motion). ``open*`` is finger
    openness (0 closed .. 1 open), ``depth*`` the fraction the hand shrinks when pushing down,
    ``open_lead`` the fraction of the step by which the fingers reach ``open1``.
    """

    label: str
    start: int
    end: int
    p0: Point
    p1: Point
    open0: float
    open1: float
    depth0: float = 0.0
    depth1: float = 0.0
    profile: str = "minjerk"
    arc: float = 0.0
    freq_hz: float = 0.0
    amp_deg: float = 0.0
    radius: float = 0.0
    open_lead: float = 1.0

    @property
    def frames(self) -> int:
        return self.end - self.start


@dataclass(frozen=True)
class Hold:
    """A part of ``kind`` in the hand over frames ``[start, end)``."""

    kind: int
    start: int
    end: int


@dataclass(frozen=True)
class Placement:
    """A part resting in fixture slot ``slot`` over frames ``[start, end)``."""

    slot: int
    kind: int
    pos: Point
    angle: float  # radians
    start: int
    end: int


@dataclass(frozen=True)
class Drop:
    """A part released onto the conveyor at ``frame`` at ``pos``; it then rides the belt."""

    kind: int
    pos: Point
    angle: float
    frame: int


@dataclass(frozen=True)
class Script:
    fps: float
    n_frames: int
    steps: tuple[Step, ...]
    holds: tuple[Hold, ...]
    placements: tuple[Placement, ...]
    drops: tuple[Drop, ...]

    @property
    def duration_sec(self) -> float:
        return self.n_frames / self.fps


@dataclass
class _Spec:
    """A step before it is placed in time (internal to the planner)."""

    label: str
    seconds: float
    p1: Point
    open1: float
    depth1: float = 0.0
    profile: str = "minjerk"
    arc: float = 0.0
    freq_hz: float = 0.0
    amp_deg: float = 0.0
    radius: float = 0.0
    open_lead: float = 1.0
    event: tuple[str, int] | None = None  # (kind of event, bin/slot index) at mid-step


@dataclass
class _Planner:
    fps: float
    n_frames: int
    rng: np.random.Generator
    layout: Layout = LAYOUT
    steps: list[Step] = field(default_factory=list)
    holds: list[Hold] = field(default_factory=list)
    placements: list[Placement] = field(default_factory=list)
    drops: list[Drop] = field(default_factory=list)
    occupied: dict[int, tuple[int, Point, float, int]] = field(default_factory=dict)
    holding: tuple[int, int] | None = None  # (kind, since frame)
    t: int = 0
    pos: Point = (0.0, 0.0)
    open: float = OPEN_REST
    depth: float = 0.0

    def frames(self, seconds: float) -> int:
        return max(1, int(round(seconds * self.fps)))

    def push(self, spec: _Spec, start: int, n: int) -> None:
        step = Step(
            label=spec.label,
            start=start,
            end=start + n,
            p0=self.pos,
            p1=spec.p1,
            open0=self.open,
            open1=spec.open1,
            depth0=self.depth,
            depth1=spec.depth1,
            profile=spec.profile,
            arc=spec.arc,
            freq_hz=spec.freq_hz,
            amp_deg=spec.amp_deg,
            radius=spec.radius,
            open_lead=spec.open_lead,
        )
        self.steps.append(step)
        if spec.event is not None:
            self.apply_event(spec.event, step)
        self.t, self.pos, self.open, self.depth = step.end, spec.p1, spec.open1, spec.depth1

    def apply_event(self, event: tuple[str, int], step: Step) -> None:
        """Parts change hands at the middle of a grasp or release."""
        kind, idx = event
        mid = step.start + step.frames // 2
        mid_pos = (0.5 * (step.p0[0] + step.p1[0]), 0.5 * (step.p0[1] + step.p1[1]))
        if kind == "pick_bin":
            self.holding = (idx, mid)
        elif kind == "pick_slot":
            part, pos, angle, since = self.occupied.pop(idx)
            self.placements.append(Placement(idx, part, pos, angle, since, mid))
            self.holding = (part, mid)
        elif kind in ("place_slot", "drop_belt"):
            if self.holding is None:
                raise RuntimeError(f"{kind} at frame {mid} with an empty hand")
            part, since = self.holding
            self.holds.append(Hold(part, since, mid))
            self.holding = None
            if kind == "place_slot":
                self.occupied[idx] = (part, mid_pos, hand_heading(mid_pos, self.layout), mid)
            else:
                self.drops.append(Drop(part, mid_pos, hand_heading(mid_pos, self.layout), mid))
        else:
            raise ValueError(f"unknown script event {kind!r}")

    def close(self) -> Script:
        if self.holding is not None:
            self.holds.append(Hold(self.holding[0], self.holding[1], self.n_frames))
        for slot, (part, pos, angle, since) in sorted(self.occupied.items()):
            self.placements.append(Placement(slot, part, pos, angle, since, self.n_frames))
        return Script(
            fps=self.fps,
            n_frames=self.n_frames,
            steps=tuple(self.steps),
            holds=tuple(self.holds),
            placements=tuple(self.placements),
            drops=tuple(self.drops),
        )


def _motion_seconds(p0: Point, p1: Point, speed: float, rng: np.random.Generator) -> float:
    """Point-to-point duration (s): grows with distance, kept in 0.6-2.0 s."""
    dist = math.hypot(p1[0] - p0[0], p1[1] - p0[1])
    return float(np.clip(0.3 + dist / speed + rng.normal(0.0, 0.08), 0.6, 2.0))


def _offset(p: Point, d: np.ndarray, amount: float) -> Point:
    return (float(p[0] + d[0] * amount), float(p[1] + d[1] * amount))


def _rest(pl: _Planner) -> Point:
    (cx, cy), (jx, jy) = pl.layout.rest_center, pl.layout.rest_jitter
    return (float(cx + pl.rng.uniform(-jx, jx)), float(cy + pl.rng.uniform(-jy, jy)))


def _reach(pl: _Planner, target: Point) -> _Spec:
    rng = pl.rng
    return _Spec(
        "reach",
        _motion_seconds(pl.pos, target, rng.uniform(300, 600), rng),
        target,
        OPEN_FULL,
        arc=float(rng.uniform(-35, 35)),
        open_lead=0.7,
    )


def _grasp(pl: _Planner, at: Point, event: tuple[str, int]) -> _Spec:
    rng = pl.rng
    nudge = rng.uniform(2.0, 5.0) * approach_dir(at, pl.layout)
    return _Spec(
        "grasp",
        float(rng.uniform(0.4, 1.0)),
        _offset(at, nudge, 1.0),
        OPEN_HOLD,
        depth1=0.04,
        event=event,
    )


def _transport(pl: _Planner, start: Point, target: Point) -> _Spec:
    rng = pl.rng
    return _Spec(
        "transport",
        _motion_seconds(start, target, rng.uniform(220, 450), rng),
        target,
        OPEN_HOLD,
        arc=float(rng.uniform(-45, 45)),
    )


def _release(pl: _Planner, at: Point, event: tuple[str, int]) -> _Spec:
    rng = pl.rng
    back = _offset(at, approach_dir(at, pl.layout), -float(rng.uniform(3.0, 6.0)))
    return _Spec("release", float(rng.uniform(0.4, 1.0)), back, OPEN_FULL, event=event)


def _retract(pl: _Planner, start: Point) -> _Spec:
    rng = pl.rng
    rest = _rest(pl)
    return _Spec(
        "retract",
        _motion_seconds(start, rest, rng.uniform(320, 650), rng),
        rest,
        OPEN_REST,
        arc=float(rng.uniform(-35, 35)),
        open_lead=0.8,
    )


def _assembly_cycle(pl: _Planner, slot: int) -> list[_Spec]:
    """Pick a part from a bin, insert it into ``slot`` (sometimes screw it), go back to rest."""
    rng, lay = pl.rng, pl.layout
    b = int(rng.integers(len(lay.bins)))
    cx, cy = lay.bin_center(b)
    pick = (float(cx + rng.uniform(-30, 30)), float(cy + rng.uniform(-22, 22)))
    slot_pos = lay.slots[slot]
    d = approach_dir(slot_pos, lay)
    grasp = _grasp(pl, pick, ("pick_bin", b))
    approach = _offset(slot_pos, d, -float(rng.uniform(14.0, 26.0)))
    specs = [_reach(pl, pick), grasp, _transport(pl, grasp.p1, approach)]
    depth = float(rng.uniform(0.06, 0.1))
    specs.append(
        _Spec(
            "insert",
            float(rng.uniform(0.5, 1.2)),
            slot_pos,
            OPEN_HOLD,
            depth1=depth,
            profile="push",
        )
    )
    if rng.random() < 0.5:
        specs.append(
            _Spec(
                "screw",
                float(rng.uniform(1.0, 3.0)),
                slot_pos,
                OPEN_HOLD,
                depth1=depth,
                profile="screw",
                freq_hz=float(rng.uniform(2.0, 4.0)),
                amp_deg=float(rng.uniform(18, 35)),
                radius=float(rng.uniform(1.5, 3.5)),
            )
        )
    release = _release(pl, slot_pos, ("place_slot", slot))
    return [*specs, release, _retract(pl, release.p1)]


def _unload_cycle(pl: _Planner, slot: int) -> list[_Spec]:
    """Take the part out of ``slot`` and drop it onto the conveyor, go back to rest."""
    rng, lay = pl.rng, pl.layout
    at = pl.occupied[slot][1]
    grasp = _grasp(pl, at, ("pick_slot", slot))
    drop = (float(rng.uniform(250, 560)), float(lay.belt_center_y() + rng.uniform(-12, 12)))
    release = _release(pl, drop, ("drop_belt", -1))
    return [
        _reach(pl, at),
        grasp,
        _transport(pl, grasp.p1, drop),
        release,
        _retract(pl, release.p1),
    ]


def _next_cycle(pl: _Planner) -> list[_Spec]:
    free = [s for s in range(len(pl.layout.slots)) if s not in pl.occupied]
    busy = sorted(pl.occupied)
    if busy and (not free or pl.rng.random() < 0.35):
        return _unload_cycle(pl, int(pl.rng.choice(busy)))
    return _assembly_cycle(pl, int(pl.rng.choice(free)))


def _pause_frames(pl: _Planner, p_pause: float) -> int:
    return pl.frames(pl.rng.uniform(0.5, 3.0)) if pl.rng.random() < p_pause else 0


def _finish(pl: _Planner) -> None:
    """Fill the frames left after the last whole step: idle, or stretch a step by < 0.5 s."""
    left = pl.n_frames - pl.t
    if left <= 0:
        return
    last = pl.steps[-1]
    if left >= pl.frames(0.5) and last.label != "idle":
        pl.steps.append(
            Step(
                "idle",
                pl.t,
                pl.n_frames,
                pl.pos,
                pl.pos,
                pl.open,
                pl.open,
                pl.depth,
                pl.depth,
                profile="still",
            )
        )
    else:
        pl.steps[-1] = replace(last, end=pl.n_frames)
    pl.t = pl.n_frames


def _initial_state(pl: _Planner) -> None:
    """Rest pose, some slots already filled (so unloading can happen early)."""
    pl.pos = _rest(pl)
    for s, pos in enumerate(pl.layout.slots):
        if pl.rng.random() < 0.3:
            kind = int(pl.rng.integers(N_PART_KINDS))
            pl.occupied[s] = (kind, pos, float(pl.rng.uniform(-math.pi, math.pi)), 0)


def frame_count(seconds: float, fps: float) -> int:
    """Frames of a planned video, ``round(seconds * fps)``; ``ValueError`` when that is none."""
    n_frames = int(round(seconds * fps))
    if n_frames < 1 or fps <= 0:
        raise ValueError(f"video too short: seconds={seconds} at fps={fps} gives no frame")
    return n_frames


def make_script(
    seconds: float,
    fps: float,
    rng: np.random.Generator,
    layout: Layout = LAYOUT,
    pause_scale: float = 1.0,
) -> Script:
    """Plan ``round(seconds * fps)`` frames of work: idle lead-in, then cycles until the end.

    ``pause_scale`` multiplies the chances of an idle pause (1: the bench and test presets).
    """
    n_frames = frame_count(seconds, fps)
    pl = _Planner(fps=fps, n_frames=n_frames, rng=rng, layout=layout)
    _initial_state(pl)
    p_in_cycle = float(rng.uniform(0.2, 0.45)) * pause_scale  # pause chance between primitives
    p_between = float(rng.uniform(0.5, 0.8)) * pause_scale  # ... and between cycles
    lead = min(pl.frames(rng.uniform(0.5, 1.5)), n_frames)
    pl.push(_Spec("idle", 0.0, pl.pos, pl.open, profile="still"), 0, lead)
    while pl.t < n_frames:
        fits = True
        for spec in _next_cycle(pl):
            pause = _pause_frames(pl, p_between if spec.label == "reach" else p_in_cycle)
            if pl.steps[-1].label == "idle":
                pause = 0
            n = pl.frames(spec.seconds)
            if pl.t + pause + n > n_frames:
                fits = False
                break
            if pause:
                pl.push(_Spec("idle", 0.0, pl.pos, pl.open, pl.depth, profile="still"), pl.t, pause)
            pl.push(spec, pl.t, n)
        if not fits:
            break
    _finish(pl)
    script = pl.close()
    log.debug("planned %d steps over %d frames", len(script.steps), n_frames)
    return script


def plan_script(seconds: float, seed: int, fps: float) -> Script:
    """The schedule that ``render_video`` uses for ``seed`` (no rendering)."""
    return make_script(seconds, fps, rng_for(seed, SCRIPT_STREAM))


def ground_truth(script: Script, video_name: str) -> dict:
    """Segment file (docs/formats.md): contiguous segments, adjacent equal labels merged."""
    merged: list[list] = []
    for s in script.steps:
        if merged and merged[-1][2] == s.label and merged[-1][1] == s.start:
            merged[-1][1] = s.end
        else:
            merged.append([s.start, s.end, s.label])
    fps = float(script.fps)
    return {
        "video": video_name,
        "fps": fps,
        "duration_sec": script.n_frames / fps,
        "segments": [
            {"start_sec": a / fps, "end_sec": b / fps, "label": lab} for a, b, lab in merged
        ],
    }
