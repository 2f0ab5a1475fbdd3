"""The primitive schedule: ground-truth validity, grammar, durations, pauses, determinism."""

from __future__ import annotations

import math

import pytest

from pipeline.synth.script import LABELS, ground_truth, plan_script

FPS = 30.0
DURATIONS = {  # seconds, per label (the last step of a video may be stretched by < 0.5 s)
    "reach": (0.6, 2.0),
    "transport": (0.6, 2.0),
    "retract": (0.6, 2.0),
    "grasp": (0.4, 1.0),
    "release": (0.4, 1.0),
    "insert": (0.5, 1.2),
    "screw": (1.0, 3.0),
    "idle": (0.5, 3.0),
}
NEXT = {  # which primitive may follow which (idle pauses removed)
    "reach": {"grasp"},
    "grasp": {"transport"},
    "transport": {"insert", "release"},
    "insert": {"screw", "release"},
    "screw": {"release"},
    "release": {"retract"},
    "retract": {"reach"},
}


def check_segments(gt: dict, fps: float, n_frames: int) -> None:
    """Schema of CONVENTIONS.md + contiguity + frame-exact boundaries."""
    assert set(gt) == {"video", "fps", "duration_sec", "segments"}
    assert gt["fps"] == fps
    assert math.isclose(gt["duration_sec"], n_frames / fps, abs_tol=1e-9)
    segs = gt["segments"]
    assert segs[0]["start_sec"] == 0.0
    assert math.isclose(segs[-1]["end_sec"], gt["duration_sec"], abs_tol=1e-9)
    for a, b in zip(segs, segs[1:], strict=False):
        assert a["end_sec"] == b["start_sec"]
        assert a["label"] != b["label"]
    for s in segs:
        assert set(s) == {"start_sec", "end_sec", "label"}
        assert s["label"] in LABELS
        assert s["end_sec"] > s["start_sec"]
        for t in (s["start_sec"], s["end_sec"]):
            assert abs(t * fps - round(t * fps)) < 1e-6


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_ground_truth_is_valid(seed: int) -> None:
    script = plan_script(60.0, seed, FPS)
    check_segments(ground_truth(script, "x.mp4"), FPS, script.n_frames)
    assert script.n_frames == 1800
    assert sum(s.frames for s in script.steps) == script.n_frames


@pytest.mark.parametrize("seed", [0, 5, 9])
def test_durations_and_grammar(seed: int) -> None:
    steps = plan_script(90.0, seed, FPS).steps
    for s in steps[:-1]:
        lo, hi = DURATIONS[s.label]
        if s.start == 0:  # idle lead-in
            lo, hi = 0.5, 1.5
        assert lo - 0.5 / FPS <= s.frames / FPS <= hi + 0.5 / FPS, s
    work = [s.label for s in steps if s.label != "idle"]
    assert work[0] == "reach"
    for a, b in zip(work, work[1:], strict=False):
        assert b in NEXT[a], (a, b)
    assert {"reach", "grasp", "transport", "insert", "release", "retract"} <= set(work)


def test_pauses_and_back_to_back_transitions_both_occur() -> None:
    screws = 0
    for seed in range(6):
        segs = ground_truth(plan_script(60.0, seed, FPS), "x.mp4")["segments"]
        labels = [s["label"] for s in segs]
        pairs = list(zip(labels, labels[1:], strict=False))
        pauses = sum(1 for lab in labels[1:] if lab == "idle")
        back_to_back = sum(1 for a, b in pairs if "idle" not in (a, b))
        assert pauses >= 3, (seed, labels)
        assert back_to_back >= 5, (seed, labels)
        screws += labels.count("screw")
    assert screws >= 3


def test_parts_bookkeeping_is_consistent() -> None:
    script = plan_script(120.0, 4, FPS)
    holds = sorted(script.holds, key=lambda h: h.start)
    for a, b in zip(holds, holds[1:], strict=False):
        assert a.end <= b.start  # one part in the hand at a time
    for slot in range(4):
        occ = sorted((p for p in script.placements if p.slot == slot), key=lambda p: p.start)
        for a, b in zip(occ, occ[1:], strict=False):
            assert a.end <= b.start  # one part per slot
    grasps = [s for s in script.steps if s.label == "grasp"]
    for h in holds:  # every hold starts in the middle of a grasp
        assert any(g.start <= h.start < g.end for g in grasps)
    assert script.drops and script.placements


def test_deterministic_and_seed_dependent() -> None:
    a, b, c = plan_script(30.0, 7, FPS), plan_script(30.0, 7, FPS), plan_script(30.0, 8, FPS)
    assert a == b
    assert ground_truth(a, "v") == ground_truth(b, "v")
    assert ground_truth(a, "v") != ground_truth(c, "v")


def test_short_and_invalid_lengths() -> None:
    tiny = plan_script(0.1, 0, FPS)
    check_segments(ground_truth(tiny, "t.mp4"), FPS, 3)
    with pytest.raises(ValueError, match="too short"):
        plan_script(0.0, 0, FPS)
