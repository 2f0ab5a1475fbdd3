"""One video that breaks after ingest (deleted, truncated, overwritten with garbage) fails alone:
a ``failures`` row names it and the stage, the other videos are tracked, segmented and clipped,
and the tokenizer never trains on the broken one."""

from __future__ import annotations

import pytest
from lapstest.segment_stores import make_checkpoint

from pipeline.io.storage import LocalStorage
from pipeline.io.tables import read_partition
from pipeline.stages import StageContext, run_stages
from pipeline.synth import render_video
from pipeline.tokens.stage import training_files

D, S = "2026-03-04", "st1"


def _ctx(tmp_path, **kw) -> StageContext:
    landing = tmp_path / "landing" / S / D
    for name, seed in (("a.mp4", 51), ("b.mp4", 52), ("c.mp4", 53)):
        render_video(landing / name, seconds=5, seed=seed, preset="test", shake=False)
    return StageContext(
        store=LocalStorage(tmp_path / "store"), date=D, station=S,
        landing=LocalStorage(tmp_path / "landing"), **kw,
    )  # fmt: skip


@pytest.mark.parametrize("fault", ["deleted", "truncated", "garbage"])
def test_a_video_broken_after_ingest_fails_alone_in_tracking(tmp_path, fault):
    ctx = _ctx(tmp_path, checkpoint=make_checkpoint(tmp_path / "tiny.pt"))
    run_stages(ctx, ["ingest", "chunks"])
    broken = tmp_path / "landing" / S / D / "b.mp4"
    if fault == "deleted":
        broken.unlink()
    elif fault == "truncated":
        broken.write_bytes(broken.read_bytes()[:2000])
    else:
        broken.write_bytes(b"\x00" * 50_000)
    done = run_stages(ctx, ["tracks", "tokenizer", "codes", "segments"])

    failures = read_partition(ctx.store, "failures", D, S).to_pylist()
    assert [(f["file_name"], f["stage"]) for f in failures] == [("b.mp4", "tracks")]
    assert failures[0]["reason"] and failures[0]["detail"]
    assert done["tracks"].extra["failed_videos"] == ["b.mp4"]
    videos = {
        v["video_id"]: v["file_name"] for v in read_partition(ctx.store, "videos", D, S).to_pylist()
    }
    windows = read_partition(ctx.store, "windows", D, S)
    assert {videos[v] for v in windows.column("video_id").to_pylist()} == {"a.mp4", "c.mp4"}
    assert {videos[v] for v, _ in training_files(ctx.store)} == {"a.mp4", "c.mp4"}
    segments = read_partition(ctx.store, "segments", D, S).to_pylist()
    assert {videos[r["video_id"]] for r in segments} <= {"a.mp4", "c.mp4"}
    assert set(done["segments"].extra["segment_files"]) == {"a", "c"}


def test_clips_of_a_video_deleted_before_the_segments_stage_become_failure_rows(tmp_path):
    ctx = _ctx(tmp_path, checkpoint=make_checkpoint(tmp_path / "tiny.pt"))
    run_stages(ctx, ["ingest", "chunks", "tracks", "tokenizer", "codes"])
    (tmp_path / "landing" / S / D / "a.mp4").unlink()
    done = run_stages(ctx, ["segments"])

    videos = {
        v["video_id"]: v["file_name"] for v in read_partition(ctx.store, "videos", D, S).to_pylist()
    }
    rows = read_partition(ctx.store, "segments", D, S).to_pylist()
    of_a = [r for r in rows if videos[r["video_id"]] == "a.mp4"]
    assert of_a and all(r["clip_key"] is None for r in of_a)  # segmented, but no clip
    assert all(r["clip_key"] for r in rows if videos[r["video_id"]] != "a.mp4")
    failures = read_partition(ctx.store, "failures", D, S).to_pylist()
    assert {(f["file_name"], f["stage"], f["reason"]) for f in failures} == {
        ("a.mp4", "clips", "clip_failed")
    }
    assert len(failures) == len(of_a) == done["segments"].extra["clips"]["failed"]
    # the file comes back: a rerun writes its clips and leaves no failure rows
    render_video(tmp_path / "landing" / S / D / "a.mp4", seconds=5, seed=51, preset="test",
                 shake=False)  # fmt: skip
    run_stages(ctx, ["segments"])
    assert read_partition(ctx.store, "failures", D, S).num_rows == 0
