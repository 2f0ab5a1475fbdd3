"""The ``twohand`` presets: two independent assembly scripts, both hands moving at once, the
union ground-truth rule, whole-frame coverage, determinism, drawing and the CLI."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli.main import main
from pipeline.segments.segfile import read_segments
from pipeline.synth import PRESETS, build_video, render_frame, video_seed
from pipeline.synth.layout import LAYOUT
from pipeline.synth.script import LABELS, SCRIPT_STREAM, Script, make_script, rng_for
from pipeline.synth.twohand import (
    LEFT_LAYOUT,
    LEFT_SCRIPT_STREAM,
    LEFT_SLOTS,
    PAUSE_SCALE,
    RIGHT_SLOTS,
    SNAP_SEC,
    image_positions,
    plan_twohand,
    twohand_ground_truth,
)

FPS = 30.0
SEEDS = [video_seed(6100, i) for i in range(4)]  # videos of the preset's dev set


def labels_per_frame(script: Script) -> list[str]:
    return [s.label for s in script.steps for _ in range(s.frames)]


def changes(labels: list[str]) -> set[int]:
    return {f for f in range(1, len(labels)) if labels[f] != labels[f - 1]}


def gt_frames(gt: dict) -> list[tuple[int, int, str]]:
    out = []
    for s in gt["segments"]:
        a, b = s["start_sec"] * FPS, s["end_sec"] * FPS
        assert abs(a - round(a)) < 1e-6 and abs(b - round(b)) < 1e-6  # whole frames
        out.append((round(a), round(b), s["label"]))
    return out


@pytest.mark.parametrize("seconds", [12.0, 60.0, 61.7])
def test_ground_truth_covers_the_video_with_whole_frames(seconds: float) -> None:
    n = int(round(seconds * FPS))
    for seed in SEEDS:
        plan = plan_twohand(seconds, seed, FPS)
        for script in (plan.left, plan.right):
            assert script.n_frames == n and script.steps[0].start == 0
            assert script.steps[-1].end == n
            assert all(
                a.end == b.start for a, b in zip(script.steps, script.steps[1:], strict=False)
            )
        gt = twohand_ground_truth(plan, "x.mp4")
        assert gt["duration_sec"] == n / FPS and gt["fps"] == FPS
        segs = gt_frames(gt)
        assert segs[0][0] == 0 and segs[-1][1] == n
        assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(segs, segs[1:], strict=False))
        json.dumps(gt)


def test_boundaries_are_the_union_of_both_hands_and_labels_name_both() -> None:
    for seed in SEEDS:
        plan = plan_twohand(60.0, seed, FPS)
        lab_l, lab_r = labels_per_frame(plan.left), labels_per_frame(plan.right)
        segs = gt_frames(twohand_ground_truth(plan, "x.mp4"))
        assert {a for a, _, _ in segs[1:]} == changes(lab_l) | changes(lab_r)
        assert changes(lab_l) - changes(lab_r) and changes(lab_r) - changes(lab_l)  # independent
        for a, b, label in segs:
            left, right = lab_l[a], lab_r[a]
            assert set(lab_l[a:b]) == {left} and set(lab_r[a:b]) == {right}
            if left == right == "idle":
                assert label == "idle"
            else:
                assert label == f"left:{left}+right:{right}"
                assert left in LABELS and right in LABELS
        assert any(lab.startswith("left:idle+") for _, _, lab in segs)
        assert any(lab.endswith("+right:idle") for _, _, lab in segs)


def test_left_boundaries_near_right_ones_are_snapped_onto_them() -> None:
    snap = int(round(SNAP_SEC * FPS))
    moved = 0
    for seed in SEEDS:
        plan = plan_twohand(60.0, seed, FPS)
        raw = make_script(60.0, FPS, rng_for(seed, LEFT_SCRIPT_STREAM), LEFT_LAYOUT, PAUSE_SCALE)
        right = {s.start for s in plan.right.steps}
        assert [s.label for s in raw.steps] == [s.label for s in plan.left.steps]
        for a, b in zip(raw.steps, plan.left.steps, strict=True):
            assert (a.p0, a.p1, a.profile) == (b.p0, b.p1, b.profile)
            if a.start != b.start:
                assert b.start in right and abs(a.start - b.start) < snap
                moved += 1
        starts = [s.start for s in plan.left.steps[1:]]
        near = [t for t in starts if 0 < min(abs(t - r) for r in right) < snap]
        assert len(near) <= 0.05 * len(starts)  # left only where a step would halve
    assert moved > 0


def test_each_hand_is_the_assembly_planner_on_its_own_slots() -> None:
    seed = 6101
    plan = plan_twohand(30.0, seed, FPS)
    right_slots = {LAYOUT.slots[i] for i in RIGHT_SLOTS}
    left_slots = {LAYOUT.slots[i] for i in LEFT_SLOTS}
    v = build_video(30.0, seed, "twohand-test")
    assert v.script.steps == plan.right.steps
    for p in v.script.placements:  # both hands' parts, in image coordinates
        assert any(math.dist(p.pos, s) < 10.0 for s in right_slots | left_slots)
    n_right = len(plan.right.placements)
    assert all(
        any(math.dist(p.pos, s) < 10.0 for s in right_slots) for p in v.script.placements[:n_right]
    )
    assert all(
        any(math.dist(p.pos, s) < 10.0 for s in left_slots) for p in v.script.placements[n_right:]
    )
    ref = make_script(30.0, FPS, rng_for(seed, SCRIPT_STREAM), LAYOUT)
    assert ref.steps != plan.right.steps  # its own layout and pause rate, not the bench's


def test_both_hands_move_at_once() -> None:
    shares = []
    for seed in SEEDS:
        v = build_video(60.0, seed, "twohand-test")
        assert v.left is not None
        left = image_positions(v.left.traj)
        speed_r = np.hypot(*np.diff(v.traj.pos, axis=0).T) * FPS
        speed_l = np.hypot(*np.diff(left, axis=0).T) * FPS
        both = (speed_r > 40.0) & (speed_l > 40.0)  # design px/s, far above the tremor
        shares.append(both.mean())
        run = best = 0
        for x in both:
            run = run + 1 if x else 0
            best = max(best, run)
        assert best >= 0.5 * FPS, (seed, best)  # half a second of both hands in full motion
        assert (left[:, 0] < v.traj.pos[:, 0]).mean() > 0.6  # the left hand works on the left
    assert np.mean(shares) > 0.1  # 16 % of the frames in these seeds (47 % above 15 px/s)


def test_same_seed_same_frames_and_json_other_seed_differs() -> None:
    a, b, c = (plan_twohand(8.0, s, FPS) for s in (7, 7, 8))
    assert a == b and a != c
    ga, gb = twohand_ground_truth(a, "v"), twohand_ground_truth(b, "v")
    assert json.dumps(ga) == json.dumps(gb) and ga != twohand_ground_truth(c, "v")
    va, vb, vc = (build_video(8.0, s, "twohand-test") for s in (7, 7, 8))
    for f in (0, 100, 239):
        fa = render_frame(va, f)
        assert fa.shape == (240, 320, 3)
        assert np.array_equal(fa, render_frame(vb, f))
    assert not np.array_equal(render_frame(va, 120), render_frame(vc, 120))


def test_the_left_arm_is_drawn_where_its_trajectory_is() -> None:
    v = build_video(6.0, 6102, "twohand-test", shake=False)
    assert v.left is not None
    one = replace(v, left=None)
    pos = image_positions(v.left.traj)
    k = v.scene.k
    for f in (30, 90, 150):
        diff = np.abs(render_frame(v, f).astype(int) - render_frame(one, f).astype(int)).sum(2)
        ys, xs = np.nonzero(diff > 60)
        assert len(xs) > 200  # a whole arm, not noise
        x, y = pos[f] * k
        near = np.hypot(xs - x, ys - y) < 30 * k
        assert near.sum() > 50, (f, pos[f])  # the glove is at the grasp point
        assert xs.mean() < 0.5 * v.preset.width  # the arm comes in from the left


def test_laps_synth_renders_a_twohand_video(tmp_path: Path) -> None:
    args = ["synth", "--out", str(tmp_path), "--videos", "1", "--seconds", "4", "--seed", "3"]
    res = CliRunner().invoke(main, [*args, "--preset", "twohand-test"])
    assert res.exit_code == 0, res.output
    video = tmp_path / "station-0003-000.mp4"
    with av.open(str(video)) as cont:
        frames = list(cont.decode(video=0))
    assert len(frames) == 120 and (frames[0].width, frames[0].height) == (320, 240)
    gt_path = tmp_path / "station-0003-000.segments.json"
    gt = json.loads(gt_path.read_text())
    want = twohand_ground_truth(plan_twohand(4.0, video_seed(3, 0), FPS), video.name)
    assert {k: v for k, v in gt.items() if k != "meta"} == want
    assert gt["meta"]["hands"] == 2 and "union" in gt["meta"]["rule"]
    seg = read_segments(gt_path)  # the project's reader accepts it
    assert seg.segments[-1].end_sec == pytest.approx(4.0) and seg.meta["hands"] == 2
    meta = json.loads((tmp_path / "station-0003-000.synth.json").read_text())
    assert meta["preset"] == "twohand-test" and meta["hands"] == 2
    assert PRESETS["twohand"].script == PRESETS["twohand-test"].script == "twohand"
    assert (PRESETS["twohand"].width, PRESETS["twohand"].fps) == (640, 30.0)
