"""Two hands at once: the ``twohand`` presets of ``laps synth`` (bimanual assembly, dev data).

The worker now uses both arms. The right arm is the one of the other presets (shoulder
off-screen bottom right); the left arm is its mirror image (shoulder bottom left). Each hand runs
its own script of the assembly planner (``script.make_script``: reach, grasp, transport, insert,
screw, release, retract, idle pauses), from its own seed streams, so the two hands start and
stop primitives independently and work at the same time for much of the video: with idle pauses
half as likely as on the bench (``PAUSE_SCALE``), both hands are inside a primitive in 52 % of
the frames of the dev set (``--seed 6100``, 8 x 60 s) and both move faster than 15 px/s in 45 %
(``both_moving``). The fixture is shared out so they never fight over a slot: the right hand
fills and empties the right column of slots and picks from the top bin only, the left hand the
left column and any bin. The left hand is planned in its
mirror frame (x -> 640 - x, with a mirrored layout) and drawn mirrored back (:func:`left_pose`).

Ground truth, one rule: **a segment boundary wherever either hand starts or ends a primitive**
(the union of the two hands' boundaries), labelled ``left:<primitive>+right:<primitive>``, and
``idle`` where both hands are idle. Why this rule: a bimanual segment should be a stretch in
which the joint action of both hands is one thing. That is what a bimanual policy is trained
on, and what a person marking bimanual assembly marks: "left reaches, right screws" ends when
either hand changes. Keeping only the dominant hand's primitives would leave the left hand's
visible starts and stops as unlabelled motion changes inside segments. A boundary of the left
hand less than ``SNAP_SEC`` from one of the right hand is moved onto it (when both steps
around it keep at least half their length), so the union holds no slivers of a few frames that
no one could mark. The segment file schema is unchanged (docs/formats.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from pipeline.synth.arm import ArmPose, solve_arm
from pipeline.synth.layout import DESIGN_W, LAYOUT, Layout
from pipeline.synth.motion import Trajectory, trajectory
from pipeline.synth.script import (
    SCRIPT_STREAM,
    Drop,
    Script,
    make_script,
    rng_for,
)

LEFT_SCRIPT_STREAM = 11  # seed stream ids of the left hand (see ``script.rng_for``)
LEFT_MOTION_STREAM = 12
RIGHT_SLOTS = (1, 3)  # indices into LAYOUT.slots: the right column
LEFT_SLOTS = (0, 2)
RIGHT_BINS = (0,)  # the top bin (bin index = part kind, so only a prefix keeps kinds right)
SNAP_SEC = 0.25
PAUSE_SCALE = 0.5  # half the bench's chance of an idle pause: two busy hands
MOVING_PX_S = 15.0  # design px/s: a hand faster than this moves (``moving``)
RULE = "union of both hands' primitive boundaries; label left:<l>+right:<r>, idle when both idle"


def _mx(x: float) -> float:
    return DESIGN_W - x


def mirror_layout(lay: Layout, slots: tuple[int, ...]) -> Layout:
    """The layout as the left arm sees it in its mirror frame (x -> 640 - x), own slots only.

    The shoulder and the rest area are not mirrored: in the mirror frame the left shoulder and
    the left hand's rest (image x 200) are where the right ones are, so the planner and the
    kinematics work unchanged.
    """
    bins = tuple((_mx(x1), y0, _mx(x0), y1) for x0, y0, x1, y1 in lay.bins)
    f = lay.fixture
    return replace(
        lay,
        bins=bins,
        fixture=(_mx(f[2]), f[1], _mx(f[0]), f[3]),
        slots=tuple((_mx(lay.slots[i][0]), lay.slots[i][1]) for i in slots),
    )


RIGHT_LAYOUT = replace(
    LAYOUT,
    bins=tuple(LAYOUT.bins[i] for i in RIGHT_BINS),
    slots=tuple(LAYOUT.slots[i] for i in RIGHT_SLOTS),
)
LEFT_LAYOUT = mirror_layout(LAYOUT, LEFT_SLOTS)


@dataclass(frozen=True)
class TwoHandPlan:
    """Both hands' scripts: ``right`` in image design px, ``left`` in its mirror frame."""

    right: Script
    left: Script

    @property
    def n_frames(self) -> int:
        return self.right.n_frames

    @property
    def fps(self) -> float:
        return self.right.fps


def boundaries(script: Script) -> list[int]:
    """Frames where a primitive starts, other than 0 (where the label changes)."""
    return [b.start for a, b in zip(script.steps, script.steps[1:], strict=False)
            if a.label != b.label]  # fmt: skip


def snap_left(left: Script, right: Script, frames: int) -> Script:
    """Move each left boundary closer than ``frames`` to a right one onto it (see module doc)."""
    targets = np.array(sorted({s.start for s in right.steps[1:]}), dtype=int)
    if not len(targets) or frames < 1:
        return left
    steps = list(left.steps)
    for i in range(len(steps) - 1):
        a, b = steps[i], steps[i + 1]
        r = int(targets[np.argmin(np.abs(targets - a.end))])
        if r == a.end or abs(r - a.end) >= frames:
            continue
        if r - a.start < max(1, a.frames // 2) or b.end - r < max(1, b.frames // 2):
            continue
        steps[i], steps[i + 1] = replace(a, end=r), replace(b, start=r)
    return replace(left, steps=tuple(steps))


def plan_twohand(seconds: float, seed: int, fps: float) -> TwoHandPlan:
    """The two scripts that ``render_video`` uses for ``seed`` with a ``twohand`` preset."""
    right = make_script(seconds, fps, rng_for(seed, SCRIPT_STREAM), RIGHT_LAYOUT, PAUSE_SCALE)
    left = make_script(seconds, fps, rng_for(seed, LEFT_SCRIPT_STREAM), LEFT_LAYOUT, PAUSE_SCALE)
    return TwoHandPlan(right, snap_left(left, right, int(round(SNAP_SEC * fps))))


def scene_script(plan: TwoHandPlan) -> Script:
    """The right hand's script with both hands' fixture parts and belt drops (image px).

    The scene (fixture parts, belt riders) and the right arm are drawn from this script.
    """
    pl = tuple(
        replace(p, pos=(_mx(p.pos[0]), p.pos[1]), angle=math.pi - p.angle)
        for p in plan.left.placements
    )
    dr = tuple(
        Drop(d.kind, (_mx(d.pos[0]), d.pos[1]), math.pi - d.angle, d.frame) for d in plan.left.drops
    )
    r = plan.right
    return replace(r, placements=r.placements + pl, drops=r.drops + dr)


def left_trajectory(plan: TwoHandPlan, seed: int) -> Trajectory:
    """The left hand's trajectory in its mirror frame (with its own tremor)."""
    return trajectory(plan.left, rng_for(seed, LEFT_MOTION_STREAM), LEFT_LAYOUT)


def image_positions(traj: Trajectory) -> np.ndarray:
    """Left-hand grasp points (N, 2) of a mirror-frame trajectory, in image design px."""
    return np.column_stack([DESIGN_W - traj.pos[:, 0], traj.pos[:, 1]])


def left_pose(traj: Trajectory, frame: int) -> ArmPose:
    """The left arm of ``frame`` in image design px: solved in the mirror frame, mirrored back."""
    p = solve_arm(
        traj.pos[frame],
        float(traj.heading[frame]),
        float(traj.openness[frame]),
        float(traj.scale[frame]),
        LEFT_LAYOUT,
    )
    m = lambda v: np.array([DESIGN_W - v[0], v[1]])  # noqa: E731
    return ArmPose(
        m(p.shoulder), m(p.elbow), m(p.wrist), m(p.grasp), math.pi - p.heading, p.openness, p.scale
    )


@dataclass(frozen=True)
class LeftArm:
    """What the renderer needs of the left hand: both plans, its trajectory, its held parts."""

    plan: TwoHandPlan
    traj: Trajectory  # mirror frame
    held: np.ndarray  # (N,) int8, -1 for none


def left_arm(plan: TwoHandPlan, seed: int) -> LeftArm:
    return LeftArm(plan, left_trajectory(plan, seed), held_per_frame(plan.left))


def held_per_frame(script: Script) -> np.ndarray:
    """(N,) int8: kind of the part in the hand per frame, -1 for none."""
    held = np.full(script.n_frames, -1, np.int8)
    for h in script.holds:
        held[h.start : h.end] = h.kind
    return held


def bimanual_label(left: str, right: str) -> str:
    return "idle" if left == right == "idle" else f"left:{left}+right:{right}"


def _labels_per_frame(script: Script) -> list[str]:
    out: list[str] = []
    for s in script.steps:
        out += [s.label] * s.frames
    return out


def twohand_ground_truth(plan: TwoHandPlan, video_name: str) -> dict:
    """Segment file (docs/formats.md) under the union rule: a boundary where either hand's
    primitive changes, labels ``left:<l>+right:<r>`` (``idle``: both idle), whole frames."""
    lab_l, lab_r = _labels_per_frame(plan.left), _labels_per_frame(plan.right)
    n = plan.n_frames
    if len(lab_l) != n or len(lab_r) != n:
        raise ValueError(f"steps cover {len(lab_l)} / {len(lab_r)} frames, video has {n}")
    merged: list[list] = []
    for f in range(n):
        lab = bimanual_label(lab_l[f], lab_r[f])
        if merged and merged[-1][2] == lab:
            merged[-1][1] = f + 1
        else:
            merged.append([f, f + 1, lab])
    fps = float(plan.fps)
    return {
        "video": video_name,
        "fps": fps,
        "duration_sec": n / fps,
        "segments": [
            {"start_sec": a / fps, "end_sec": b / fps, "label": lab} for a, b, lab in merged
        ],
    }


def moving(pos: np.ndarray, fps: float, px_s: float = MOVING_PX_S) -> np.ndarray:
    """(N,) bool: the hand at ``pos`` (N, 2) design px moves faster than ``px_s`` (5-frame mean
    speed, so the tremor of a still hand does not count)."""
    v = np.r_[0.0, np.hypot(*np.diff(pos, axis=0).T)] * fps
    smooth = np.convolve(v, np.ones(5) / 5.0, mode="same")
    return smooth > px_s


def both_moving(right: Trajectory, left: Trajectory, fps: float) -> np.ndarray:
    """(N,) bool: frames in which both hands move (``moving``; mirroring keeps speeds)."""
    return moving(right.pos, fps) & moving(left.pos, fps)
