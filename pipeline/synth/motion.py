"""Hand kinematics: per-frame grasp point, hand heading, finger openness and depth scale.

Each primitive has its own motion signature (see ``Step.profile``): minimum-jerk point-to-point
moves with a lateral arc (reach, transport, retract, small grasp/release moves), a push that
starts quickly and slows down (insert), a 2-4 Hz wrist oscillation with a small circular hand
motion (screw), and stillness (idle); cyclic activities (``cyclic.CycleStep``, profile
``cycle``) settle onto a centre and repeat wipe, polish, hammer or screw cycles around it. A
small low-pass tremor is added everywhere, so idle is "nearly still", never frozen.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from pipeline.synth.cyclic import CycleStep, cycle_offsets
from pipeline.synth.layout import LAYOUT, SHOULDER_BIAS, Layout
from pipeline.synth.script import Script, Step

MOTION_STREAM = 2
SCREW_RAMP_SEC = 0.12  # the wrist oscillation fades in and out over this time


@dataclass(frozen=True)
class Trajectory:
    """Per-frame hand state; arrays have length ``n_frames`` (index = frame index).

    ``pos`` (N, 2) grasp point in design px; ``heading`` (N,) hand axis angle in radians;
    ``openness`` (N,) in [0, 1]; ``scale`` (N,) hand size factor (< 1 when pushing down).
    """

    pos: np.ndarray
    heading: np.ndarray
    openness: np.ndarray
    scale: np.ndarray


def min_jerk(tau: np.ndarray) -> np.ndarray:
    """Minimum-jerk position profile s(tau), tau in [0, 1] -> [0, 1], zero end velocities."""
    t = np.clip(tau, 0.0, 1.0)
    return t**3 * (10.0 - 15.0 * t + 6.0 * t * t)


def _push_profile(tau: np.ndarray) -> np.ndarray:
    """Push: accelerates quickly, then a long deceleration (zero velocity at both ends)."""
    return min_jerk(np.clip(tau, 0.0, 1.0) ** 0.6)


def _path(step: Step, s: np.ndarray) -> np.ndarray:
    """Points along p0 -> p1 at progress ``s`` with a sideways bulge of ``step.arc`` px."""
    p0, p1 = np.asarray(step.p0, float), np.asarray(step.p1, float)
    d = p1 - p0
    n = np.hypot(d[0], d[1])
    normal = np.array([-d[1], d[0]]) / n if n > 1e-9 else np.zeros(2)
    return p0 + s[:, None] * d + (step.arc * np.sin(np.pi * s))[:, None] * normal


def _screw_offsets(step: Step, k: np.ndarray, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Wrist angle offset (rad) and circular hand offset (px) of a screw step at local frames k."""
    n = max(step.frames, 1)
    ramp = max(SCREW_RAMP_SEC * fps, 1.0)
    r = np.clip(np.minimum(k, n - k) / ramp, 0.0, 1.0)
    env = np.sin(0.5 * np.pi * r) ** 2
    phase = 2.0 * np.pi * step.freq_hz * k / fps
    angle = np.deg2rad(step.amp_deg) * env * np.sin(phase)
    circle = step.radius * env[:, None] * np.stack([np.sin(phase), np.cos(phase) - 1.0], axis=1)
    return angle, circle


def _eval_step(step: Step, fps: float) -> tuple[np.ndarray, ...]:
    """(pos (n,2), wrist offset (n,), openness (n,), depth (n,)) over the step's frames."""
    k = np.arange(step.frames, dtype=float)
    tau = k / max(step.frames, 1)
    wrist = np.zeros_like(tau)
    if step.profile == "still":
        s = np.zeros_like(tau)
    elif step.profile == "minjerk":
        s = min_jerk(tau)
    elif step.profile in ("push", "screw"):
        s = _push_profile(tau)
    elif step.profile == "cycle" and isinstance(step, CycleStep):
        s = min_jerk(k / max(step.settle, 1))  # settle onto the centre, then cycle around it
    else:
        raise ValueError(f"unknown motion profile {step.profile!r} in step {step}")
    pos = _path(step, s)
    if step.profile == "screw":
        wrist, circle = _screw_offsets(step, k, fps)
        pos = pos + circle
    cycle_depth = None
    if isinstance(step, CycleStep):
        dpos, wrist, cycle_depth = cycle_offsets(step, k, fps)
        pos = pos + dpos
    so = min_jerk(tau / max(step.open_lead, 1e-6))
    openness = step.open0 + (step.open1 - step.open0) * so
    depth = (
        step.depth0 + (step.depth1 - step.depth0) * s
        if step.profile != "still"
        else (np.full_like(tau, step.depth0))
    )
    if cycle_depth is not None:
        depth = depth + cycle_depth
    return pos, wrist, openness, depth


def _tremor(n: int, rng: np.random.Generator, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """Low-pass physiological tremor: position (n, 2) ~0.5 px rms, angle (n,) ~0.4 deg rms."""
    a = 1.0 - np.exp(-1.0 / (0.12 * fps))  # ~0.12 s time constant
    white = rng.standard_normal((n, 3))
    smooth = lfilter([a], [1.0, a - 1.0], white, axis=0)
    smooth /= max(float(np.sqrt(a / (2.0 - a))), 1e-9)  # unit variance
    return 0.5 * smooth[:, :2], np.deg2rad(0.4) * smooth[:, 2]


def heading_of(pos: np.ndarray, layout: Layout = LAYOUT) -> np.ndarray:
    """Relaxed hand heading (rad) for grasp points ``pos`` (N, 2)."""
    sx, sy = layout.shoulder
    return np.arctan2(pos[:, 1] - sy, pos[:, 0] - sx) + SHOULDER_BIAS


def trajectory(
    script: Script, rng: np.random.Generator | None = None, layout: Layout = LAYOUT
) -> Trajectory:
    """Evaluate every frame of ``script``; ``rng`` adds tremor (``None``: no tremor)."""
    parts = [_eval_step(s, script.fps) for s in script.steps]
    pos = np.concatenate([p[0] for p in parts])
    wrist = np.concatenate([p[1] for p in parts])
    openness = np.concatenate([p[2] for p in parts])
    depth = np.concatenate([p[3] for p in parts])
    if len(pos) != script.n_frames:
        raise ValueError(f"steps cover {len(pos)} frames, script has {script.n_frames}")
    if rng is not None:
        dpos, dang = _tremor(script.n_frames, rng, script.fps)
        pos, wrist = pos + dpos, wrist + dang
    heading = heading_of(pos, layout) + wrist
    return Trajectory(
        pos=pos, heading=heading, openness=np.clip(openness, 0.0, 1.0), scale=1.0 - depth
    )
