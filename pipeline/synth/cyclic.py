"""Cyclic activities: long runs of one repeated motion, the ``cyclic`` presets of ``laps synth``.

A video of this kind is a short idle lead-in, then 4-10 ACTIVITIES (fewer when the video is too
short for four, more when it is too long for ten), sometimes (about 40 %) separated by an idle
pause of 0.5-2 s, otherwise back to back. An activity lasts 3-15 s and repeats cycles of one
motion of the hand: ``wipe`` (back and forth along a line, 1-2 Hz, a 60-150 px stroke),
``polish`` (circles of 20-50 px radius, 1-1.5 Hz), ``hammer`` (lift and strike in image y with a
hold at the bottom, 1.5-2.5 Hz) and ``screw`` (the wrist oscillation of the assembly script, held
at one fixture slot). ``transfer`` (reach -> grasp -> transport -> release -> retract between a
bin and the fixture, 1.5-3 s) is the short non-cyclic activity. At least one cyclic kind recurs
with another activity in between; the same kind never follows itself. Each cycle's period and
amplitude vary a little (seeded), so the motion is not exactly periodic.

The ground truth (``script.ground_truth``) has one segment per activity, labelled with its kind,
and ``idle`` for the pauses: the cycles inside an activity are not segments. A cyclic activity is
one :class:`CycleStep`; its hand first settles from where it was onto the activity's centre,
then the cycles fade in, and they fade out before the end, so activities join without jumps.
``motion`` evaluates the steps (profile ``cycle``: :func:`cycle_offsets`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from pipeline.synth.layout import LAYOUT, Layout, Point, approach_dir, hand_heading
from pipeline.synth.script import (
    N_PART_KINDS,
    OPEN_FULL,
    OPEN_HOLD,
    OPEN_REST,
    SCRIPT_STREAM,
    Hold,
    Placement,
    Script,
    Step,
    frame_count,
    rng_for,
)

log = logging.getLogger(__name__)

CYCLIC_KINDS: tuple[str, ...] = ("wipe", "polish", "hammer", "screw")
CYCLIC_LABELS: tuple[str, ...] = (*CYCLIC_KINDS, "transfer", "idle")
ACTIVITY_SEC: dict[str, tuple[float, float]] = {k: (3.0, 15.0) for k in CYCLIC_KINDS} | {
    "transfer": (1.5, 3.0)
}
FREQ_HZ: dict[str, tuple[float, float]] = {
    "wipe": (1.0, 2.0),
    "polish": (1.0, 1.5),
    "hammer": (1.5, 2.5),
    "screw": (2.0, 3.5),
}
N_ACTIVITIES = (4, 10)
PAUSE_PROB = 0.4
PAUSE_SEC = (0.5, 2.0)
LEAD_SEC = (0.5, 1.5)
TRANSFER_WEIGHT = 0.2  # chance of a transfer among the activity kinds
CYCLE_RAMP_SEC = 0.25  # the cycles fade in after the settle and out before the end over this
PERIOD_JITTER, GAIN_JITTER = 0.07, 0.1  # sd of the per-cycle period and amplitude factors
HAMMER_LIFT_DEPTH = 0.08  # the lifted hand is this much larger (nearer the camera)
WORK_AREA = (230.0, 180.0, 500.0, 400.0)  # centres of wipe and polish (design px box)
TRANSFER_MOVE, TRANSFER_HAND, TRANSFER_SPEED = 0.15, 0.15, 900.0  # time shares of the moves


@dataclass(frozen=True)
class CycleStep(Step):
    """A cyclic activity over frames ``[start, end)`` (``profile == "cycle"``).

    The centre moves from ``p0`` to ``p1`` (minimum jerk) over the first ``settle`` frames; then
    cycle ``j`` lasts ``periods[j]`` s with amplitude ``amp * gains[j]``. ``amp``: half the
    stroke (wipe, along ``axis`` radians), the circle radius (polish, turning ``turn`` = +-1),
    the lift in image y (hammer, resting ``hold`` of each cycle at the bottom) or the wrist
    amplitude in degrees (screw, plus a ``radius`` px circle). ``freq_hz`` is the mean rate.
    """

    shape: str = "wipe"
    settle: int = 1
    amp: float = 0.0
    axis: float = 0.0
    turn: float = 1.0
    hold: float = 0.0
    periods: tuple[float, ...] = ()
    gains: tuple[float, ...] = ()


def _smooth(t: np.ndarray) -> np.ndarray:
    return np.sin(0.5 * np.pi * np.clip(t, 0.0, 1.0)) ** 2


def _hammer_lift(u: np.ndarray, hold: float) -> np.ndarray:
    """Lift (0 bottom .. 1 top) over one cycle's phase ``u`` in [0, 1): hold, rise, strike."""
    rest = 1.0 - hold
    rise_end = hold + 0.6 * rest
    up = np.clip((u - hold) / (0.6 * rest), 0.0, 1.0)
    down = np.clip((u - rise_end) / (0.4 * rest), 0.0, 1.0)
    lift = up**2 * (3.0 - 2.0 * up)
    return np.where(u < rise_end, lift, 1.0 - down**2)  # the strike accelerates to impact


def cycle_offsets(
    step: CycleStep, k: np.ndarray, fps: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hand offset (n, 2) px, wrist angle (n,) rad and depth (n,) of ``step`` at local frames k."""
    n = len(k)
    t = (k - step.settle) / fps  # seconds since the cycles began (< 0 while settling)
    periods = np.asarray(step.periods, float)
    edges = np.concatenate([[0.0], np.cumsum(periods)])
    j = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(periods) - 1)
    u = np.clip((t - edges[j]) / periods[j], 0.0, 1.0)
    phase = 2.0 * np.pi * (j + u)
    gain = np.interp(t, edges[:-1] + 0.5 * periods, np.asarray(step.gains, float))
    t_end = (step.frames - 1 - step.settle) / fps
    env = _smooth(np.minimum(t, t_end - t) / CYCLE_RAMP_SEC)
    a = step.amp * gain * env
    dpos, wrist, depth = np.zeros((n, 2)), np.zeros(n), np.zeros(n)
    if step.shape == "wipe":
        dpos = (a * np.sin(phase))[:, None] * np.array([math.cos(step.axis), math.sin(step.axis)])
    elif step.shape == "polish":
        dpos = a[:, None] * np.stack([np.sin(phase), step.turn * np.cos(phase)], axis=1)
    elif step.shape == "hammer":
        lift = _hammer_lift(u, step.hold) * gain * env
        dpos[:, 1] = -step.amp * lift
        depth = -HAMMER_LIFT_DEPTH * lift
    elif step.shape == "screw":
        wrist = np.deg2rad(a) * np.sin(phase)
        r = step.radius * gain * env
        dpos = r[:, None] * np.stack([np.sin(phase), np.cos(phase) - 1.0], axis=1)
    else:
        raise ValueError(f"unknown cycle shape {step.shape!r} in step {step}")
    return dpos, wrist, depth


def _kinds(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` activity kinds: never the same twice in a row; a cyclic kind recurs (n >= 3)."""
    share = (1.0 - TRANSFER_WEIGHT) / len(CYCLIC_KINDS)
    p = np.r_[np.full(len(CYCLIC_KINDS), share), TRANSFER_WEIGHT]
    names = (*CYCLIC_KINDS, "transfer")
    for _ in range(1000):
        kinds: list[str] = []
        while len(kinds) < n:
            k = names[int(rng.choice(len(names), p=p))]
            if not kinds or k != kinds[-1]:
                kinds.append(k)
        if n < 3 or _recurs(kinds):
            return kinds
    raise RuntimeError(f"no activity sequence of {n} with a recurring kind")  # pragma: no cover


def _recurs(kinds: list[str]) -> bool:
    """Whether some cyclic kind comes back after another activity."""
    return any(
        k in CYCLIC_KINDS and k in kinds[i + 2 :] for i, k in enumerate(kinds) if i + 2 < len(kinds)
    )


def _fit_frames(lo: list[int], hi: list[int], total: int, rng: np.random.Generator) -> list[int]:
    """Random integer lengths ``lo[i] <= f[i] <= hi[i]`` summing to ``total`` (feasible)."""
    lo_a, hi_a = np.asarray(lo, float), np.asarray(hi, float)
    want = rng.uniform(lo_a, hi_a)
    c_lo, c_hi = 0.0, max(float(hi_a.max() / want.min()), 1.0) * 2.0
    for _ in range(60):  # sum(clip(c * want)) is monotone in c
        c = 0.5 * (c_lo + c_hi)
        if np.clip(c * want, lo_a, hi_a).sum() < total:
            c_lo = c
        else:
            c_hi = c
    f = np.floor(np.clip(c_hi * want, lo_a, hi_a)).astype(int)
    f = np.clip(f, lo, hi)
    left = total - int(f.sum())
    order = [int(i) for i in rng.permutation(len(f))]
    while left != 0:
        moved = False
        for i in order:
            if left > 0 and f[i] < hi[i]:
                f[i] += 1
                left -= 1
                moved = True
            elif left < 0 and f[i] > lo[i]:
                f[i] -= 1
                left += 1
                moved = True
            if left == 0:
                break
        if not moved:
            raise RuntimeError("activity lengths do not fit")  # pragma: no cover
    return [int(x) for x in f]


@dataclass(frozen=True)
class _Plan:
    kinds: list[str]
    frames: list[int]
    pauses: list[int]  # pause before activity i (0 for the first)


def _plan_times(avail: int, fps: float, rng: np.random.Generator) -> _Plan:
    """Kinds, lengths and pauses of the activities over ``avail`` frames (after the lead-in)."""
    fr = lambda s: int(math.ceil(s * fps - 1e-9))  # noqa: E731
    fl = lambda s: int(math.floor(s * fps + 1e-9))  # noqa: E731
    sec = avail / fps
    n_lo = max(N_ACTIVITIES[0], math.ceil(sec / 13.0))
    n_hi = max(n_lo, min(N_ACTIVITIES[1], math.floor(sec / 4.0)))
    for _ in range(500):
        n = int(rng.integers(n_lo, n_hi + 1))
        kinds = _kinds(n, rng)
        pauses = [0] + [
            int(rng.integers(fr(PAUSE_SEC[0]), fl(PAUSE_SEC[1]) + 1))
            if rng.random() < PAUSE_PROB
            else 0
            for _ in range(n - 1)
        ]
        lo = [fr(ACTIVITY_SEC[k][0]) for k in kinds]
        hi = [fl(ACTIVITY_SEC[k][1]) for k in kinds]
        rest = avail - sum(pauses)
        if sum(lo) <= rest <= sum(hi):
            return _Plan(kinds, _fit_frames(lo, hi, rest, rng), pauses)
        if rest < sum(lo) and n_hi > 1 and rng.random() < 0.2:
            n_lo, n_hi = max(1, n_lo - 1), max(1, n_hi - 1)  # too short for so many
        elif rest > sum(hi) and rng.random() < 0.2:
            n_lo, n_hi = n_lo + 1, n_hi + 1  # too long for so few
    kind = CYCLIC_KINDS[int(rng.integers(len(CYCLIC_KINDS)))]  # a very short video
    return _Plan([kind], [avail], [0])


@dataclass
class _Hand:
    """Where the hand is and what the fixture holds while planning."""

    pos: Point
    open: float = OPEN_REST
    depth: float = 0.0
    occupied: dict[int, tuple[int, int, float]] | None = None  # slot -> (kind, since, angle)


def _settle_frames(p0: Point, p1: Point, frames: int, fps: float) -> int:
    dist = math.hypot(p1[0] - p0[0], p1[1] - p0[1])
    return max(1, min(int(round(float(np.clip(0.3 + dist / 500.0, 0.3, 1.0)) * fps)), frames // 3))


def _centre(kind: str, lay: Layout, rng: np.random.Generator) -> Point:
    if kind in ("hammer", "screw"):
        x, y = lay.slots[int(rng.integers(len(lay.slots)))]
        return (float(x + rng.uniform(-4, 4)), float(y + rng.uniform(-4, 4)))
    x0, y0, x1, y1 = WORK_AREA
    return (float(rng.uniform(x0, x1)), float(rng.uniform(y0, y1)))


def _cycle_step(
    kind: str, start: int, n: int, hand: _Hand, fps: float, rng: np.random.Generator, lay: Layout
) -> CycleStep:
    centre = _centre(kind, lay, rng)
    freq = float(rng.uniform(*FREQ_HZ[kind]))
    n_cycles = int(math.ceil(n / fps * freq * 1.3)) + 2
    periods = tuple(
        float(x) for x in np.clip(1.0 + rng.normal(0.0, PERIOD_JITTER, n_cycles), 0.8, 1.2) / freq
    )
    gains = tuple(float(x) for x in np.clip(1.0 + rng.normal(0.0, GAIN_JITTER, n_cycles), 0.7, 1.3))
    look = {  # amplitude, openness, depth
        "wipe": (rng.uniform(30.0, 75.0), 0.8, 0.03),
        "polish": (rng.uniform(20.0, 50.0), 0.35, 0.03),
        "hammer": (rng.uniform(25.0, 45.0), OPEN_HOLD, 0.0),
        "screw": (rng.uniform(18.0, 35.0), OPEN_HOLD, float(rng.uniform(0.06, 0.1))),
    }[kind]
    across = rng.random() < 0.3  # most strokes run roughly left-right, some up-down
    axis = 0.5 * math.pi + rng.uniform(-0.35, 0.35) if across else rng.uniform(-0.7, 0.7)
    settle = _settle_frames(hand.pos, centre, n, fps)
    return CycleStep(
        label=kind,
        start=start,
        end=start + n,
        p0=hand.pos,
        p1=centre,
        open0=hand.open,
        open1=float(look[1]),
        depth0=hand.depth,
        depth1=float(look[2]),
        profile="cycle",
        freq_hz=freq,
        radius=float(rng.uniform(1.5, 3.5)) if kind == "screw" else 0.0,
        open_lead=settle / n,
        shape=kind,
        settle=settle,
        amp=float(look[0]),
        axis=float(axis),
        turn=1.0 if rng.random() < 0.5 else -1.0,
        hold=float(rng.uniform(0.2, 0.35)),
        periods=periods,
        gains=gains,
    )


def _transfer(
    start: int, n: int, hand: _Hand, rng: np.random.Generator, lay: Layout
) -> tuple[list[Step], list[Hold], list[Placement]]:
    """Bin -> free slot (or, with the fixture full, slot -> bin) in five short moves."""
    occ = hand.occupied if hand.occupied is not None else {}
    free = [s for s in range(len(lay.slots)) if s not in occ]
    b = int(rng.integers(len(lay.bins)))
    bx, by = lay.bin_center(b)
    in_bin = (float(bx + rng.uniform(-30, 30)), float(by + rng.uniform(-22, 22)))
    if free:
        slot = int(rng.choice(free))
        src, dst, part = in_bin, lay.slots[slot], b % N_PART_KINDS
    else:
        slot = int(rng.choice(sorted(occ)))
        src, dst, part = lay.slots[slot], in_bin, occ[slot][0]
    away = approach_dir(dst, lay) * -float(rng.uniform(40.0, 80.0))
    back = (float(dst[0] + away[0]), float(dst[1] + away[1]))
    legs = ((hand.pos, src), (src, dst), (dst, back))
    move = [TRANSFER_MOVE + math.dist(a, b) / TRANSFER_SPEED for a, b in legs]
    w = np.array([move[0], TRANSFER_HAND, move[1], TRANSFER_HAND, move[2]])
    cuts = [int(x) for x in np.round(np.cumsum(np.r_[0.0, w]) / w.sum() * n)]
    moves = (  # label, target, openness, open_lead, arc
        ("reach", src, OPEN_FULL, 0.7, rng.uniform(-25, 25)),
        ("grasp", src, OPEN_HOLD, 1.0, 0.0),
        ("transport", dst, OPEN_HOLD, 1.0, rng.uniform(-30, 30)),
        ("release", dst, OPEN_FULL, 1.0, 0.0),
        ("retract", back, OPEN_REST, 0.8, 0.0),
    )
    steps: list[Step] = []
    pos, opn, depth = hand.pos, hand.open, hand.depth
    for (_, target, o1, lead, arc), a, b_ in zip(moves, cuts[:-1], cuts[1:], strict=True):
        if b_ <= a:
            continue
        steps.append(
            Step(
                "transfer",
                start + a,
                start + b_,
                pos,
                target,
                opn,
                o1,
                depth,
                0.0,
                "minjerk",
                float(arc),
                open_lead=lead,
            )  # fmt: skip
        )
        pos, opn, depth = target, o1, 0.0
    grab = start + cuts[1] + (cuts[2] - cuts[1]) // 2  # mid-grasp
    drop = start + cuts[3] + (cuts[4] - cuts[3]) // 2  # mid-release
    holds, placements = [Hold(part, grab, drop)], []
    if free:
        occ[slot] = (part, drop, hand_heading(dst, lay))
    else:
        _, since, angle = occ.pop(slot)
        placements.append(Placement(slot, part, src, angle, since, grab))
    hand.pos, hand.open, hand.depth, hand.occupied = pos, opn, depth, occ
    return steps, holds, placements


def make_cyclic_script(
    seconds: float, fps: float, rng: np.random.Generator, layout: Layout = LAYOUT
) -> Script:
    """Plan ``round(seconds * fps)`` frames: idle lead-in, then activities and pauses to the end."""
    n_frames = frame_count(seconds, fps)
    (cx, cy), (jx, jy) = layout.rest_center, layout.rest_jitter
    hand = _Hand((float(cx + rng.uniform(-jx, jx)), float(cy + rng.uniform(-jy, jy))))
    hand.occupied = {
        s: (int(rng.integers(N_PART_KINDS)), 0, float(rng.uniform(-math.pi, math.pi)))
        for s in range(len(layout.slots))
        if rng.random() < 0.3
    }
    lead = min(int(round(rng.uniform(*LEAD_SEC) * fps)), n_frames // 4)
    steps: list[Step] = []
    holds: list[Hold] = []
    placements: list[Placement] = []

    def still(a: int, b: int) -> None:
        o, d = hand.open, hand.depth
        steps.append(Step("idle", a, b, hand.pos, hand.pos, o, o, d, d, profile="still"))

    if lead:
        still(0, lead)
    plan = _plan_times(n_frames - lead, fps, rng)
    t = lead
    for kind, n, pause in zip(plan.kinds, plan.frames, plan.pauses, strict=True):
        if pause:
            still(t, t + pause)
            t += pause
        if kind == "transfer":
            s, h, p = _transfer(t, n, hand, rng, layout)
            steps += s
            holds += h
            placements += p
        else:
            step = _cycle_step(kind, t, n, hand, fps, rng, layout)
            steps.append(step)
            hand.pos, hand.open, hand.depth = step.p1, step.open1, step.depth1
        t += n
    assert t == n_frames, (t, n_frames)
    for slot, (part, since, angle) in sorted((hand.occupied or {}).items()):
        placements.append(Placement(slot, part, layout.slots[slot], angle, since, n_frames))
    log.debug("planned %d activities over %d frames", len(plan.kinds), n_frames)
    return Script(fps, n_frames, tuple(steps), tuple(holds), tuple(placements), ())


def plan_cyclic_script(seconds: float, seed: int, fps: float) -> Script:
    """The schedule that ``render_video`` uses for ``seed`` with a ``cyclic`` preset."""
    return make_cyclic_script(seconds, fps, rng_for(seed, SCRIPT_STREAM))
