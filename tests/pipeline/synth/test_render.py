"""Rendered videos: files, decoding, determinism, and motion where the script says."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from pipeline.io.video import probe_video
from pipeline.synth import PRESETS, build_video, render_frame, render_video, synthesize
from pipeline.synth.layout import LAYOUT

SECONDS = 3.0
SEED = 21


def decode_gray(path: Path) -> np.ndarray:
    """All frames of ``path`` as float32 gray (N, H, W)."""
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="gray").astype(np.float32) for f in c.decode(video=0)])


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """The same seed rendered twice, and another seed once (test preset, steady camera)."""
    out = {}
    for name, seed in (("a", SEED), ("b", SEED), ("c", SEED + 1)):
        path = tmp_path_factory.mktemp(name) / "clip.mp4"
        truth = render_video(path, seconds=SECONDS, seed=seed, preset="test", shake=False)
        out[name] = (path, truth)
    return out


def test_files_decode_at_preset_format(rendered) -> None:
    path, truth = rendered["a"]
    p = PRESETS["test"]
    probe = probe_video(path)
    assert (probe.width, probe.height, probe.fps, probe.codec) == (p.width, p.height, p.fps, "h264")
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.pix_fmt == "yuv420p"
        assert float(stream.average_rate) == p.fps
        frames = list(c.decode(stream))
    assert len(frames) == round(SECONDS * p.fps)
    pts = np.array([f.pts for f in frames])
    assert np.all(np.diff(pts) == pts[1] - pts[0])  # constant frame rate
    on_disk = json.loads(path.with_name("clip.segments.json").read_text())
    assert on_disk == truth
    assert truth["video"] == "clip.mp4" and truth["duration_sec"] == pytest.approx(SECONDS)
    meta = json.loads(path.with_name("clip.synth.json").read_text())
    assert meta["seed"] == SEED and meta["shake"] is False and meta["n_frames"] == len(frames)
    assert sorted(q.name for q in path.parent.iterdir()) == [
        "clip.mp4",
        "clip.segments.json",
        "clip.synth.json",
    ]  # no temp files left


def test_same_seed_same_output_other_seed_differs(rendered) -> None:
    (pa, ta), (pb, tb), (pc, tc) = rendered["a"], rendered["b"], rendered["c"]
    assert ta == tb
    a, b, c = decode_gray(pa), decode_gray(pb), decode_gray(pc)
    assert np.array_equal(a, b)
    assert ta["segments"] != tc["segments"]
    assert np.abs(a - c).mean() > 1.0


def _frames_of(truth: dict, label: str, fps: float) -> list[range]:
    return [
        range(round(s["start_sec"] * fps) + 1, round(s["end_sec"] * fps))
        for s in truth["segments"]
        if s["label"] == label
    ]


def test_motion_happens_where_the_script_says(rendered) -> None:
    path, truth = rendered["a"]
    fps, k = truth["fps"], PRESETS["test"].width / 640.0
    g = decode_gray(path)
    diff = np.abs(np.diff(g, axis=0))  # diff[i] = |frame i+1 - frame i|
    belt_bottom = int((LAYOUT.belt_y1 + 10) * k)
    work = diff[:, belt_bottom:, :].mean(axis=(1, 2))
    belt = diff[:, : int(LAYOUT.belt_y1 * k) - 2, :].mean(axis=(1, 2))
    x0, y0, x1, y1 = (int(v * k) for v in LAYOUT.bins[2])
    static = diff[:, y0:y1, x0:x1].mean(axis=(1, 2))  # a bin no hand visits in 3 s
    idle = [i - 1 for r in _frames_of(truth, "idle", fps) for i in r]
    reach = [i - 1 for r in _frames_of(truth, "reach", fps) for i in r]
    assert len(idle) >= 10 and len(reach) >= 10, truth["segments"]
    assert np.median(work[reach]) > 2.0 * np.median(work[idle])
    assert np.median(belt[idle]) > 1.5 * np.median(static[idle])  # the conveyor never stops


def test_camera_shake_moves_static_background() -> None:
    k = PRESETS["test"].width / 640.0
    x0, y0, x1, y1 = (int(v * k) for v in LAYOUT.bins[0])

    def static_motion(shake: bool) -> float:
        v = build_video(1.5, 2, "test", shake=shake)
        fr = np.stack([render_frame(v, f).mean(axis=2) for f in range(v.script.n_frames)])
        assert (v.nz.shake is not None) == shake
        return float(np.abs(np.diff(fr[:, y0:y1, x0:x1], axis=0)).mean())

    assert static_motion(True) > 1.3 * static_motion(False)


def test_synthesize_names_progress_and_seeds(tmp_path: Path) -> None:
    done: list[int] = []
    paths = synthesize(tmp_path, videos=2, seconds=0.5, seed=3, preset="test", progress=done.append)
    assert [p.name for p in paths] == ["station-0003-000.mp4", "station-0003-001.mp4"]
    assert sum(done) == 2 * 15
    truths = [json.loads(p.with_name(p.name[:-4] + ".segments.json").read_text()) for p in paths]
    seeds = [
        json.loads(p.with_name(p.name[:-4] + ".synth.json").read_text())["seed"] for p in paths
    ]
    assert seeds[0] != seeds[1]
    assert all(t["video"] == p.name for t, p in zip(truths, paths, strict=True))


def test_bad_arguments_raise(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown preset"):
        render_video(tmp_path / "x.mp4", seconds=1.0, seed=0, preset="huge")
    with pytest.raises(ValueError, match=".mp4"):
        render_video(tmp_path / "x.avi", seconds=1.0, seed=0)
    with pytest.raises(ValueError, match="too short"):
        render_video(tmp_path / "x.mp4", seconds=0.0, seed=0)
    assert not any(tmp_path.iterdir())
