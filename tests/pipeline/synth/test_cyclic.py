"""The ``cyclic`` presets: activity schedule, one segment per activity, periodic hand motion,
determinism, the CLI, and the assembly presets left exactly as they were."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli.main import main, synth
from pipeline.synth import PRESETS, build_video, render_frame, video_seed
from pipeline.synth.cyclic import (
    ACTIVITY_SEC,
    CYCLE_RAMP_SEC,
    CYCLIC_KINDS,
    CYCLIC_LABELS,
    CycleStep,
    plan_cyclic_script,
)
from pipeline.synth.motion import trajectory
from pipeline.synth.script import Script, ground_truth, plan_script

FPS = 30.0
SEEDS = range(8)


def activities(script: Script) -> list[tuple[int, int, str]]:
    """(start, end, kind) of each activity, from the steps (not from the ground truth)."""
    out: list[tuple[int, int, str]] = []
    for s in script.steps:
        if s.label == "idle":
            continue
        if s.label == "transfer" and out and out[-1][2] == "transfer" and out[-1][1] == s.start:
            out[-1] = (out[-1][0], s.end, "transfer")  # the moves of one transfer
        else:
            out.append((s.start, s.end, s.label))
    return out


def check_frames(script: Script, n_frames: int) -> None:
    assert script.n_frames == n_frames
    assert script.steps[0].start == 0 and script.steps[-1].end == n_frames
    for a, b in zip(script.steps, script.steps[1:], strict=False):
        assert a.end == b.start
    for s in script.steps:
        assert isinstance(s.start, int) and isinstance(s.end, int) and s.end > s.start


@pytest.mark.parametrize("seconds", [12.0, 20.0, 60.0, 61.7])
def test_plan_covers_the_duration_with_whole_frames(seconds: float) -> None:
    for seed in SEEDS:
        script = plan_cyclic_script(seconds, seed, FPS)
        check_frames(script, int(round(seconds * FPS)))
        gt = ground_truth(script, "x.mp4")
        segs = gt["segments"]
        assert segs[0]["start_sec"] == 0.0
        assert math.isclose(segs[-1]["end_sec"], gt["duration_sec"], abs_tol=1e-9)
        for a, b in zip(segs, segs[1:], strict=False):
            assert a["end_sec"] == b["start_sec"] and a["label"] != b["label"]
        for s in segs:
            assert s["label"] in CYCLIC_LABELS
            for t in (s["start_sec"], s["end_sec"]):
                assert abs(t * FPS - round(t * FPS)) < 1e-6
        json.dumps(gt)  # plain numbers only


def test_activity_lengths_counts_and_pauses() -> None:
    pauses, back_to_back, kinds_seen = 0, 0, set()
    for seed in SEEDS:
        script = plan_cyclic_script(60.0, seed, FPS)
        acts = activities(script)
        assert 4 <= len(acts) <= 10
        for a, b, kind in acts:
            lo, hi = ACTIVITY_SEC[kind]
            assert lo <= (b - a) / FPS <= hi, (seed, kind, (b - a) / FPS)
            kinds_seen.add(kind)
        idles = [s for s in script.steps if s.label == "idle"]
        assert idles[0].start == 0 and 0.5 <= idles[0].frames / FPS <= 1.5  # lead-in
        for s in idles[1:]:
            assert 0.5 <= s.frames / FPS <= 2.0
        pauses += len(idles) - 1
        back_to_back += sum(x[1] == y[0] for x, y in zip(acts, acts[1:], strict=False))
        for x, y in zip(acts, acts[1:], strict=False):
            assert x[2] != y[2]  # a kind never follows itself
    assert pauses > 0 and back_to_back > 0
    assert 0.2 < pauses / (pauses + back_to_back) < 0.6  # about 40 % pauses
    assert kinds_seen == {*CYCLIC_KINDS, "transfer"}


def test_a_cyclic_kind_recurs_with_another_in_between() -> None:
    for seed in SEEDS:
        kinds = [k for _, _, k in activities(plan_cyclic_script(60.0, seed, FPS))]
        assert any(k in CYCLIC_KINDS and k in kinds[i + 2 :] for i, k in enumerate(kinds)), kinds


def test_ground_truth_has_one_segment_per_activity_not_per_cycle() -> None:
    for seed in SEEDS:
        script = plan_cyclic_script(60.0, seed, FPS)
        segs = ground_truth(script, "x.mp4")["segments"]
        work = [
            (round(s["start_sec"] * FPS), round(s["end_sec"] * FPS), s["label"])
            for s in segs
            if s["label"] != "idle"
        ]
        assert work == activities(script)
        cyc = [s for s in script.steps if isinstance(s, CycleStep)]
        assert cyc and all(s.frames / FPS * s.freq_hz >= 3.0 for s in cyc)  # many cycles each
        assert len(segs) == len(work) + sum(s.label == "idle" for s in script.steps)


def _autocorr(x: np.ndarray, lag: int) -> float:
    x = x - x.mean(axis=0)
    return float((x[:-lag] * x[lag:]).sum() / (x * x).sum())


def test_hand_moves_periodically_inside_a_cyclic_activity() -> None:
    checked = set()
    for seed in SEEDS:
        script = plan_cyclic_script(60.0, seed, FPS)
        tr = trajectory(script)  # no tremor
        for s in (s for s in script.steps if isinstance(s, CycleStep)):
            a = s.start + s.settle + int(CYCLE_RAMP_SEC * FPS)
            b = s.end - int(CYCLE_RAMP_SEC * FPS)
            period = int(round(FPS / s.freq_hz))
            if b - a < 3 * period:
                continue
            if s.shape == "screw":
                sig = np.unwrap(tr.heading[a:b])[:, None]
                assert np.ptp(sig) > np.deg2rad(20.0)
            else:
                sig = tr.pos[a:b]
                assert np.ptp(sig, axis=0).max() > 15.0  # the hand really moves (design px)
            near = range(int(0.85 * period), int(math.ceil(1.15 * period)) + 1)  # jitter
            assert max(_autocorr(sig, lag) for lag in near) > 0.6, (seed, s.shape)
            assert _autocorr(sig, period // 2) < -0.5, (seed, s.shape)  # half a cycle: opposite
            assert np.std(s.periods) > 0 and np.std(s.gains) > 0  # not exactly periodic
            checked.add(s.shape)
    assert checked == set(CYCLIC_KINDS)


def test_hammer_holds_at_the_bottom_and_lifts_toward_the_camera() -> None:
    script = next(
        sc for sc in (plan_cyclic_script(60.0, seed, FPS) for seed in SEEDS)
        if any(isinstance(s, CycleStep) and s.shape == "hammer" for s in sc.steps)
    )  # fmt: skip
    tr = trajectory(script)
    for s in (s for s in script.steps if isinstance(s, CycleStep) and s.shape == "hammer"):
        a, b = s.start + s.settle + int(CYCLE_RAMP_SEC * FPS), s.end - int(CYCLE_RAMP_SEC * FPS)
        y = tr.pos[a:b, 1]
        assert np.ptp(y) > 15.0
        assert np.mean(y > y.max() - 1.0) > 0.15  # a hold at the bottom (largest image y)
        assert tr.scale[a:b].max() > 1.03 and tr.scale[a:b].min() <= 1.0


def test_motion_is_continuous_and_parts_are_consistent() -> None:
    for seed in SEEDS:
        script = plan_cyclic_script(60.0, seed, FPS)
        tr = trajectory(script)
        assert np.hypot(*np.diff(tr.pos, axis=0).T).max() < 50.0  # no teleporting
        assert np.abs(np.diff(tr.scale)).max() < 0.05
        assert (tr.pos.min(axis=0) >= 0.0).all() and (tr.pos.max(axis=0) <= (640, 480)).all()
        transfers = [(a, b) for a, b, k in activities(script) if k == "transfer"]
        assert len(script.holds) == len(transfers)
        for h in script.holds:  # a part is in the hand only during a transfer
            assert any(a <= h.start < h.end <= b for a, b in transfers)
        for slot in range(4):
            occ = sorted((p for p in script.placements if p.slot == slot), key=lambda p: p.start)
            for x, y in zip(occ, occ[1:], strict=False):
                assert x.end <= y.start  # one part per slot


def test_short_videos_and_invalid_lengths() -> None:
    for seconds in (0.1, 2.0, 5.0):
        script = plan_cyclic_script(seconds, 3, FPS)
        check_frames(script, int(round(seconds * FPS)))
        trajectory(script)
    with pytest.raises(ValueError, match="too short"):
        plan_cyclic_script(0.0, 0, FPS)


def test_same_seed_same_plan_and_frames_other_seed_differs() -> None:
    a, b, c = (plan_cyclic_script(20.0, s, FPS) for s in (7, 7, 8))
    assert a == b
    assert json.dumps(ground_truth(a, "v")) == json.dumps(ground_truth(b, "v"))
    assert ground_truth(a, "v") != ground_truth(c, "v")
    va, vb, vc = (build_video(20.0, s, "cyclic-test") for s in (7, 7, 8))
    assert va.script == a
    for f in (0, 150, 420, 599):
        fa = render_frame(va, f)
        assert fa.shape == (240, 320, 3)
        assert np.array_equal(fa, render_frame(vb, f))
    assert not np.array_equal(render_frame(va, 300), render_frame(vc, 300))


def test_laps_synth_renders_a_cyclic_video(tmp_path: Path) -> None:
    args = ["synth", "--out", str(tmp_path), "--videos", "1", "--seconds", "6", "--seed", "3"]
    res = CliRunner().invoke(main, [*args, "--preset", "cyclic-test"])
    assert res.exit_code == 0, res.output
    video = tmp_path / "station-0003-000.mp4"
    with av.open(str(video)) as cont:
        frames = list(cont.decode(video=0))
    assert len(frames) == 180 and (frames[0].width, frames[0].height) == (320, 240)
    gt = json.loads((tmp_path / "station-0003-000.segments.json").read_text())
    assert gt == ground_truth(plan_cyclic_script(6.0, video_seed(3, 0), FPS), video.name)
    meta = json.loads((tmp_path / "station-0003-000.synth.json").read_text())
    assert meta["preset"] == "cyclic-test"
    choices = next(p for p in synth.params if p.name == "preset").type.choices
    assert sorted(choices) == sorted(PRESETS)
    bad = CliRunner().invoke(main, [*args, "--preset", "cyclical"])
    assert bad.exit_code == 2


BENCH_GT_SHA256 = {  # ground truth of the bench preset before the cyclic presets existed
    (1000, 0): "6078b13ae761d201278d3e4954c66df4a628e19fcb59ac4e416d0ee9b478a9d9",
    (2000, 3): "d768b295f59eb63d609d32b84f4297dbf15ca5d24de91392bfdabfd668e2266e",
}


@pytest.mark.parametrize(("batch", "index"), sorted(BENCH_GT_SHA256))
def test_bench_preset_is_unchanged(batch: int, index: int) -> None:
    seed = video_seed(batch, index)
    assert PRESETS["bench"].script == "assembly" and PRESETS["test"].script == "assembly"
    v = build_video(60.0, seed, "bench")
    assert v.script == plan_script(60.0, seed, FPS)
    assert not any(isinstance(s, CycleStep) for s in v.script.steps)
    gt = ground_truth(v.script, "x.mp4")
    digest = hashlib.sha256(json.dumps(gt, sort_keys=True).encode()).hexdigest()
    assert digest == BENCH_GT_SHA256[(batch, index)]
