"""`laps segment` on one synthetic take stored three ways players cope with: turned by a display
matrix, with variable frame rate (dropped frames), and at an odd size. Each gets its video row
as displayed, segments, and a clip for every segment that shows what a player shows."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner
from videogen import encode_timed

from pipeline.cli.main import main
from pipeline.io.storage import LocalStorage
from pipeline.io.tables import read_partition
from pipeline.io.video import count_frames, iter_frames, probe_video
from pipeline.synth import render_video

FPS = 30.0
SECONDS = 6
SLOTS = int(SECONDS * FPS)
KEPT = [s for s in range(SLOTS) if s % 7 != 3 and not 100 <= s < 106]  # ~17 % dropped
D, S = "2026-04-05", "cam1"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("variants")
    orig = root / "src" / "take.mp4"
    render_video(orig, seconds=SECONDS, seed=11, preset="test", shake=False)
    shown = [f.image for f in iter_frames(orig, target_fps=1000, gray=False, size=(320, 240))]
    assert len(shown) == SLOTS
    inp = root / "in"
    # stored turned back by 270 degrees clockwise, with the matrix a player undoes it with
    encode_timed(inp / "turned.mp4", (np.rot90(img, 3) for img in shown), range(SLOTS),
                 fps=FPS, rotation=270)  # fmt: skip
    encode_timed(inp / "vfr.mp4", (shown[s] for s in KEPT), KEPT, fps=FPS)
    odd = (np.pad(img, ((0, 1), (0, 1), (0, 0)), mode="edge") for img in shown)
    encode_timed(inp / "odd.mp4", odd, range(SLOTS), fps=FPS, pix_fmt="yuv444p")
    out = root / "out"
    args = ["segment", "--input", str(inp), "--output", str(out), "--epochs", "1",
            "--station", S, "--date", D, "--no-shards"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return shown, LocalStorage(out)


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean()) < 6.0


@pytest.mark.slow
def test_video_rows_are_as_displayed(run):
    _, store = run
    videos = {v["file_name"]: v for v in read_partition(store, "videos", D, S).to_pylist()}
    assert sorted(videos) == ["odd.mp4", "turned.mp4", "vfr.mp4"]
    got = {k: (v["width"], v["height"], v["rotation"], v["fps"], v["frame_count"])
           for k, v in videos.items()}  # fmt: skip
    assert got == {
        "turned.mp4": (320, 240, 270, FPS, SLOTS),
        "vfr.mp4": (320, 240, 0, FPS, SLOTS),  # 150 frames stored on the 180-slot grid
        "odd.mp4": (321, 241, 0, FPS, SLOTS),
    }
    assert {(v["norm_width"], v["norm_height"]) for v in videos.values()} == {(426, 320)}


@pytest.mark.slow
def test_every_segment_has_a_clip_showing_what_a_player_shows(run):
    shown, store = run
    names = {
        v["video_id"]: v["file_name"] for v in read_partition(store, "videos", D, S).to_pylist()
    }
    rows = read_partition(store, "segments", D, S).to_pylist()
    assert {names[r["video_id"]] for r in rows} == {"odd.mp4", "turned.mp4", "vfr.mp4"}
    for r in rows:
        assert r["clip_key"] is not None, f"no clip for {names[r['video_id']]} {r}"
        path = Path(store.uri(r["clip_key"]))
        n = r["end_frame"] - r["start_frame"]
        assert count_frames(path) == n
        p = probe_video(path)
        assert (p.width, p.height, p.rotation, p.fps) == (320, 240, 0, FPS)
        with av.open(str(path)) as c:
            clip = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
        for k in (0, n // 2, n - 1):
            slot = r["start_frame"] + k
            if names[r["video_id"]] == "vfr.mp4":
                slot = max(s for s in KEPT if s <= slot)  # the frame on screen at that time
            assert _close(clip[k], shown[slot]), (names[r["video_id"]], r["start_frame"], k)
