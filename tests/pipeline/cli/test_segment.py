"""`laps segment` end to end: two tiny synthetic videos and a corrupt file, no checkpoint
(a one-epoch tokenizer is trained on the input), then a rerun into the same output."""

from __future__ import annotations

import json
import posixpath
import re
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.cli.main import main
from pipeline.io.storage import LocalStorage
from pipeline.io.tables import read_partition
from pipeline.io.video import count_frames
from pipeline.segments.segfile import read_segments
from pipeline.synth import render_video


@pytest.fixture(scope="module")
def input_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("segstage-cli-in")
    render_video(folder / "first take.mp4", seconds=6, seed=11, preset="test", shake=False)
    render_video(folder / "cam_B-02.mp4", seconds=5, seed=12, preset="test", shake=True)
    (folder / "broken.mp4").write_bytes(b"\x00garbage, not a video" * 100)
    return folder


STAMP = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"


def _run(input_dir: Path, out: Path) -> None:
    args = ["segment", "--input", str(input_dir), "--output", str(out), "--epochs", "1",
            "--station", "cam1", "--date", "2026-02-03"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "broken.mp4" in result.output  # the bad file is reported
    # stderr is not a terminal: progress is timestamped lines, per video for tracking and per
    # epoch for the tokenizer (a reused one: done at once), each as it happens
    err = result.stderr.splitlines()
    progress = [line for line in err if re.fullmatch(f"{STAMP} [a-z]+ \\d+/\\d+", line)]
    stages = [line.split(" ", 1)[1] for line in progress]
    assert stages[:2] == ["probing 1/3", "probing 2/3"] and "probing 3/3" in stages
    tracking = [stages.index(f"tracking {n}/2") for n in range(3)]
    assert tracking == sorted(tracking)
    assert "tokenizer 1/1" in stages and "segmenting 2/2" in stages
    # the quarantine WARNING is its own line, between the progress lines
    warning = [line for line in err if " WARNING " in line and "broken.mp4" in line]
    assert len(warning) == 1
    assert re.match(f"{STAMP} WARNING pipeline[.a-z_]+: quarantined", warning[0])
    assert err.index(warning[0]) < err.index(progress[-1])
    # the summary (stdout) says what was done in words, no Python dict
    assert "{" not in result.stdout and "segments in 2 videos" in result.stdout
    assert re.search(r"\d+ clips? written", result.stdout)
    assert not any(re.match(STAMP, line) for line in result.stdout.splitlines())


def test_laps_segment_end_to_end_and_rerun(input_dir, tmp_path):
    out = tmp_path / "out"
    _run(input_dir, out)
    store = LocalStorage(out)
    d, s = "2026-02-03", "cam1"
    quarantine = read_partition(store, "quarantine", d, s).to_pylist()
    assert [q["file_name"] for q in quarantine] == ["broken.mp4"]
    videos = {v["file_name"]: v for v in read_partition(store, "videos", d, s).to_pylist()}
    assert sorted(videos) == ["cam_B-02.mp4", "first take.mp4"]
    for stem in ("first take", "cam_B-02"):
        top = read_segments(out / f"{stem}.segments.json")
        in_store = json.loads(
            store.read_bytes(f"segments/date={d}/station={s}/{stem}.segments.json")
        )
        assert top.to_dict() == in_store  # the convenience copy equals the store's file
        v = videos[f"{stem}.mp4"]
        assert top.video == f"{stem}.mp4" and top.fps == v["fps"]
        assert top.duration_sec == pytest.approx(v["frame_count"] / v["fps"])
        assert top.segments[0].start_sec == 0 and top.segments[-1].end_sec == top.duration_sec
    segments = read_partition(store, "segments", d, s)
    energy = read_partition(store, "energy", d, s)
    windows = read_partition(store, "windows", d, s)
    assert energy.num_rows == windows.num_rows > 0
    rows = segments.to_pylist()
    n_active = sum(
        x.label == "active"
        for stem in ("first take", "cam_B-02")
        for x in read_segments(out / f"{stem}.segments.json").segments
    )
    assert len(rows) == n_active > 0
    for r in rows:
        assert count_frames(Path(store.uri(r["clip_key"]))) == r["end_frame"] - r["start_frame"]
    assert store.exists("models/tokenizer/current.json")
    for stem in ("first take", "cam_B-02"):  # the stage draws the energy plots, CLI included
        png = store.read_bytes(f"plots/date={d}/station={s}/{stem}.energy.png")
        assert png.startswith(b"\x89PNG")
    # the training data: one WebDataset sample per segment, the Parquet dataset, the card
    index = pq.read_table(out / f"publish/shards/date={d}/station={s}/index.parquet")
    assert sum(index.column("samples").to_pylist()) == len(rows)
    dataset = pq.read_table(out / f"publish/dataset/date={d}/station={s}/part-0.parquet")
    assert sorted(dataset.column("segment_id").to_pylist()) == sorted(r["segment_id"] for r in rows)
    assert (out / "publish/README.md").is_file()

    leftover = out / f"clips/date={d}/station={s}/{rows[0]['video_id'][:16]}/.tmp-killed.mp4"
    leftover.write_bytes(b"half a clip")  # what a writer killed mid-clip leaves behind
    _run(input_dir, out)  # rerun: same partition, same rows, no duplicates, no leftovers
    assert not leftover.exists()
    assert read_partition(store, "segments", d, s).equals(segments)
    assert read_partition(store, "energy", d, s).equals(energy)
    listed = [i.key for i in store.list(f"clips/date={d}/station={s}/")]
    clips = [k for k in listed if k.endswith(".mp4")]
    assert sorted(clips) == sorted(r["clip_key"] for r in rows)
    # beside the clips only each video folder's record of the settings they were cut with
    folders = {posixpath.dirname(k) for k in clips}
    assert sorted(set(listed) - set(clips)) == sorted(f"{f}/clips.json" for f in folders)


def test_laps_segment_with_only_bad_files_fails(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "bad.mp4").write_bytes(b"nope")
    result = CliRunner().invoke(main, ["segment", "--input", str(folder), "--output",
                                       str(tmp_path / "out"), "--date", "2026-02-03"])  # fmt: skip
    assert result.exit_code == 1
    assert "bad.mp4" in result.output and "no video" in result.output


def test_input_files_flat_or_recursive_without_hidden_files_or_the_output(tmp_path):
    from pipeline.cli.segment import default_station, input_files

    for rel in ("a.mp4", "B.MOV", "notes.txt", ".hidden.mp4", "sub/c.mkv", "out/clip.mp4"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    flat = input_files(tmp_path, recursive=False, exclude=tmp_path / "out")
    assert [p.name for p in flat] == ["B.MOV", "a.mp4"]
    deep = input_files(tmp_path, recursive=True, exclude=(tmp_path / "out").resolve())
    assert [p.relative_to(tmp_path).as_posix() for p in deep] == ["B.MOV", "a.mp4", "sub/c.mkv"]
    assert default_station(tmp_path / "my cam #1") == "my-cam-1"


def test_same_stem_videos_of_one_partition_keep_their_own_outputs(tmp_path):
    from lapstest.segment_stores import make_checkpoint

    folder = tmp_path / "in"
    render_video(folder / "left" / "take.mp4", seconds=5, seed=21, preset="test", shake=False)
    render_video(folder / "right" / "take.mp4", seconds=5, seed=22, preset="test", shake=False)
    out = tmp_path / "out"
    args = ["segment", "--input", str(folder), "--output", str(out), "--recursive",
            "--checkpoint", str(make_checkpoint(tmp_path / "tiny.pt")), "--no-clips", "--no-shards",
            "--station", "cam1", "--date", "2026-02-03"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    store = LocalStorage(out)
    videos = read_partition(store, "videos", "2026-02-03", "cam1").to_pylist()
    assert len(videos) == 2 and {v["file_name"] for v in videos} == {"take.mp4"}
    seg_files = sorted(i.key for i in store.list("segments/date=2026-02-03/station=cam1/"))
    plots = sorted(i.key for i in store.list("plots/date=2026-02-03/station=cam1/"))
    assert len(seg_files) == 2 and len(plots) == 2  # nothing overwritten
    stems = {v["video_id"]: f"take-{v['video_id'][:8]}" for v in videos}
    for vid, stem in stems.items():
        segfile = json.loads(store.read_bytes(
            f"segments/date=2026-02-03/station=cam1/{stem}.segments.json"
        ))  # fmt: skip
        assert segfile["meta"]["video_id"] == vid
        assert (out / f"{stem}.segments.json").is_file()
    assert not store.list("publish/")  # --no-shards: nothing published


@pytest.mark.parametrize(
    "config, message",
    [
        ({"segmentation": {"method": "nope"}}, "segmentation.method"),
        ({"tokenizer": {"d_model": 30, "heads": 4}}, "d_model=30"),
        ({"bogus_section": {}}, "bogus_section"),
        ({"segmentation": {"alpah": 1}}, "segmentation.alpah=1: unknown key"),
        (
            {"segmentation": {"alpha": "x"}},
            "segmentation.alpha='x': Input should be a valid number",
        ),
        ({"tokenizer": {"max_epochs": -3}}, "tokenizer.max_epochs=-3: Input should be greater"),
    ],
)
def test_bad_config_is_one_clear_line_and_exit_code_2(tmp_path, config, message):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps(config))
    (tmp_path / "in").mkdir()
    result = CliRunner().invoke(main, ["segment", "--input", str(tmp_path / "in"), "--output",
                                       str(tmp_path / "out"), "--config", str(cfg)])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert result.output.startswith(f"error: --config {cfg}: invalid pipeline config")
    assert result.output.count("\n") == 1  # one line


@pytest.mark.parametrize("where", ["same", "below_a_file"])
def test_unusable_output_folders_are_refused_before_any_work(tmp_path, where):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.mp4").write_bytes(b"x")
    if where == "same":
        out = folder
    else:
        (tmp_path / "file.txt").write_text("not a folder")
        out = tmp_path / "file.txt" / "store"
    result = CliRunner().invoke(main, ["segment", "--input", str(folder), "--output", str(out)])
    assert result.exit_code == 2, result.output
    assert result.output.startswith("error: --output") and "Traceback" not in result.output
    assert not (folder / "tables").exists()


def test_a_rerun_removes_top_level_segment_files_of_videos_no_longer_there(tmp_path):
    from lapstest.segment_stores import make_checkpoint

    folder = tmp_path / "in"
    render_video(folder / "one.mp4", seconds=5, seed=31, preset="test", shake=False)
    render_video(folder / "two.mp4", seconds=5, seed=32, preset="test", shake=False)
    out = tmp_path / "out"
    args = ["segment", "--input", str(folder), "--output", str(out), "--no-shards", "--no-clips",
            "--checkpoint", str(make_checkpoint(tmp_path / "tiny.pt")),
            "--station", "cam1", "--date", "2026-02-03"]  # fmt: skip
    assert CliRunner().invoke(main, args).exit_code == 0
    assert (out / "two.segments.json").is_file()
    (folder / "two.mp4").unlink()
    assert CliRunner().invoke(main, args).exit_code == 0
    assert sorted(p.name for p in out.glob("*.segments.json")) == ["one.segments.json"]


def test_a_file_that_is_not_a_checkpoint_is_refused_before_any_work(tmp_path):
    folder = tmp_path / "in"
    render_video(folder / "a.mp4", seconds=3, seed=5, preset="test", shake=False)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage, not a checkpoint")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        main, ["segment", "--input", str(folder), "--output", str(out), "--checkpoint", str(bad)]
    )
    assert result.exit_code == 2, result.output
    assert (
        result.output.startswith("error: unusable checkpoint:") and "Traceback" not in result.output
    )
    assert not out.exists()  # nothing was tracked or written


def test_a_station_that_cannot_be_calibrated_exits_1_and_publishes_nothing(tmp_path):
    import numpy as np
    from lapstest.segment_stores import make_checkpoint

    from pipeline.io.video import encode_frames

    folder = tmp_path / "in"
    folder.mkdir()
    still = np.full((120, 160, 3), 90, np.uint8)  # nothing moves: no threshold can be found
    encode_frames(iter([still] * 90), folder / "still.mp4", fps=30.0)
    out = tmp_path / "out"
    args = ["segment", "--input", str(folder), "--output", str(out),
            "--checkpoint", str(make_checkpoint(tmp_path / "tiny.pt")),
            "--station", "cam1", "--date", "2026-02-03"]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "calibration failed" in result.output and "nothing was published" in result.output
    assert (out / "still.segments.json").is_file()  # the segment file says why, in meta
    data = json.loads((out / "still.segments.json").read_text())
    assert data["meta"]["calibration"]["error"]
    assert {s["label"] for s in data["segments"]} <= {"uncalibrated", "idle"}  # never "active"
    assert not (out / "publish").exists()
    # and the publish stage refuses such a partition when asked directly (as Dagster could)
    from pipeline.errors import PublishError
    from pipeline.stages import StageContext, run_stage

    with pytest.raises(PublishError, match="could not be calibrated"):
        run_stage(
            "publish", StageContext(store=LocalStorage(out), date="2026-02-03", station="cam1")
        )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--date", "2026-13-45"], "error: --date '2026-13-45' is not a calendar date"),
        (["--date", "26-1-1"], "error: --date '26-1-1' is not YYYY-MM-DD"),
        (["--station", "../x"], "error: --station '../x' must match"),
    ],
)
def test_a_bad_date_or_station_is_one_line_naming_the_option(tmp_path, args, message):
    folder = tmp_path / "in"
    folder.mkdir()
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["segment", "--input", str(folder), "--output", str(out),
                                       *args])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert result.output.startswith(message) and result.output.count("\n") == 1
    assert not out.exists()


def test_a_user_mistake_shows_its_traceback_only_with_v(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    args = ["segment", "--input", str(folder), "--output", str(tmp_path / "o"), "--date", "x"]
    quiet = CliRunner().invoke(main, args)
    loud = CliRunner().invoke(main, ["-v", *args])
    assert quiet.exit_code == loud.exit_code == 2
    assert "Traceback" not in quiet.output and "Traceback" in loud.output
    assert loud.output.rstrip().endswith("error: --date 'x' is not YYYY-MM-DD")
