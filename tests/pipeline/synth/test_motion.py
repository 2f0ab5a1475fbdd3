"""Hand kinematics: continuity, stillness in idle, motion signatures, arm geometry."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.synth.arm import solve_arm
from pipeline.synth.layout import LAYOUT
from pipeline.synth.motion import min_jerk, trajectory
from pipeline.synth.script import plan_script, rng_for

FPS = 30.0


@pytest.fixture(scope="module")
def scripted():
    script = plan_script(120.0, 3, FPS)
    return script, trajectory(script)  # no tremor


def _speed(pos: np.ndarray) -> np.ndarray:
    return np.r_[0.0, np.hypot(*np.diff(pos, axis=0).T)] * FPS  # design px / s


def test_min_jerk_profile() -> None:
    t = np.linspace(0, 1, 101)
    s = min_jerk(t)
    assert s[0] == 0.0 and s[-1] == 1.0
    assert np.all(np.diff(s) >= 0)
    v = np.diff(s)
    assert v[0] < 1e-4 and v[-1] < 1e-4 and v[50] == pytest.approx(v.max(), rel=0.01)


def test_trajectory_is_continuous(scripted) -> None:
    script, tr = scripted
    assert tr.pos.shape == (script.n_frames, 2)
    step_px = np.hypot(*np.diff(tr.pos, axis=0).T)
    assert step_px.max() < 40.0  # < 1200 design px/s, no teleporting at boundaries
    assert np.abs(np.diff(tr.openness)).max() < 0.2
    assert np.abs(np.diff(tr.scale)).max() < 0.02


def test_idle_is_still_and_reach_moves(scripted) -> None:
    script, tr = scripted
    speed = _speed(tr.pos)
    for s in script.steps:
        seg = speed[s.start + 1 : s.end]
        if s.label == "idle":
            assert seg.max() < 1e-6
            assert np.ptp(tr.openness[s.start : s.end]) < 1e-9
        elif s.label in ("reach", "transport", "retract"):
            assert seg.max() > 100.0  # clearly moving (design px / s)


def test_screw_oscillates_at_its_frequency(scripted) -> None:
    script, tr = scripted
    screws = [s for s in script.steps if s.label == "screw"]
    assert screws
    for s in screws:
        ang = np.unwrap(tr.heading[s.start : s.end])
        ang = ang - ang.mean()
        spec = np.abs(np.fft.rfft(ang * np.hanning(len(ang)), n=4096))
        freqs = np.fft.rfftfreq(4096, 1 / FPS)
        assert abs(freqs[spec.argmax()] - s.freq_hz) < 0.5
        assert np.ptp(ang) > np.deg2rad(20.0)


def test_insert_slows_down(scripted) -> None:
    script, tr = scripted
    speed = _speed(tr.pos)
    for s in (s for s in script.steps if s.label == "insert"):
        v = speed[s.start + 1 : s.end]
        half = len(v) // 2
        assert v[:half].mean() > 1.5 * v[half:].mean()
        assert tr.scale[s.end - 1] < tr.scale[s.start]  # pushes down


def test_tremor_is_tiny_but_present() -> None:
    script = plan_script(20.0, 1, FPS)
    still, shaky = trajectory(script), trajectory(script, rng_for(1, 2))
    dev = np.hypot(*(shaky.pos - still.pos).T)
    assert 0.1 < dev.mean() < 2.0


def test_arm_ik_keeps_limb_lengths(scripted) -> None:
    _, tr = scripted
    for f in range(0, len(tr.pos), 7):
        pose = solve_arm(tr.pos[f], float(tr.heading[f]), float(tr.openness[f]), float(tr.scale[f]))
        assert np.hypot(*(pose.elbow - pose.shoulder)) == pytest.approx(LAYOUT.upper_arm_len)
        assert np.hypot(*(pose.wrist - pose.elbow)) == pytest.approx(LAYOUT.forearm_len)
        assert 0 <= pose.grasp[0] <= 640 and 0 <= pose.grasp[1] <= 480
