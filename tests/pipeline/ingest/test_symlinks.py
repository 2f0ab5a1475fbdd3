"""Symbolic links in a landing area: a link that leads out of it is quarantined
(``symlink_outside_landing``) and never read; links inside it are taken like their targets.
Dagster's discovery and ``laps segment``'s input listing take the same files."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
from click.testing import CliRunner
from videogen import make_video

from pipeline.config import VideoConfig, WindowConfig
from pipeline.ingest.landing import (
    SYMLINK_OUTSIDE,
    discover,
    ingest_files,
    landing_candidates,
    station_name,
)
from pipeline.ingest.stage import ingest_partition
from pipeline.io.storage import LocalStorage, open_storage
from pipeline.io.tables import read_partition
from pipeline.io.video import sha256_file

WIN = WindowConfig()
DAY = "2026-01-05"


@pytest.fixture()
def landing(tmp_path: Path) -> tuple[Path, Path]:
    """A landing area with one good video and every kind of link, and an outside folder
    holding a valid video (so reading it would show: it would become a video row)."""
    outside = tmp_path / "elsewhere" / "private"
    make_video(outside / "foreign.mp4", frames=30)
    make_video(outside / "deep" / "also.mp4", frames=25)
    root = tmp_path / "landing"
    day = root / "st1" / DAY
    make_video(day / "good.mp4", frames=40)
    os.symlink(outside / "foreign.mp4", day / "evil.mp4")  # a file out of the landing area
    os.symlink(outside, day / "outdir")  # a folder out of the landing area
    os.symlink("/etc/passwd", day / "passwd.mp4")
    os.symlink(outside / "gone.mp4", day / "dangling.mp4")  # dangling, outside
    os.symlink("good.mp4", day / "alias.mp4")  # inside: the same bytes again
    os.symlink(DAY, root / "st1" / "2026-01-06")  # a linked folder inside: not descended
    return root, outside


def test_links_out_of_the_landing_area_are_quarantined_never_read(landing, tmp_path, caplog):
    root, outside = landing
    store = open_storage(tmp_path / "store")
    files = {f.key: f.problem for f in discover(open_storage(root))}
    assert files == {
        f"st1/{DAY}/alias.mp4": None,
        f"st1/{DAY}/dangling.mp4": SYMLINK_OUTSIDE,
        f"st1/{DAY}/evil.mp4": SYMLINK_OUTSIDE,
        f"st1/{DAY}/good.mp4": None,
        f"st1/{DAY}/outdir": SYMLINK_OUTSIDE,
        f"st1/{DAY}/passwd.mp4": SYMLINK_OUTSIDE,
    }
    with caplog.at_level(logging.DEBUG):
        result, summary = ingest_partition(
            open_storage(root), store, DAY, "st1", video=VideoConfig(), windows=WIN
        )
    # a link inside is taken like a file: the first in key order is the video, the other copy
    # of the same bytes a duplicate
    assert [v["file_name"] for v in result.videos] == ["alias.mp4"]
    reasons = {q["file_name"]: q["reason"] for q in result.quarantine}
    assert reasons == {
        "good.mp4": "duplicate",
        "dangling.mp4": SYMLINK_OUTSIDE,
        "evil.mp4": SYMLINK_OUTSIDE,
        "outdir": SYMLINK_OUTSIDE,
        "passwd.mp4": SYMLINK_OUTSIDE,
    }
    assert summary.rows == {"videos": 1, "quarantine": 5}
    # never read: no row carries the id (sha256) of the outside video or of /etc/passwd
    table = read_partition(store, "quarantine", DAY, "st1").to_pylist()
    ids = {q["video_id"] for q in table} | {v["video_id"] for v in result.videos}
    assert sha256_file(outside / "foreign.mp4") not in ids
    assert all(q["video_id"] is None for q in table if q["reason"] == SYMLINK_OUTSIDE)
    # the link's target is printed nowhere: not in rows, not in any log line
    written = repr(table) + caplog.text
    assert str(outside) not in written and "elsewhere" not in written and "/etc" not in written
    assert "st1/2026-01-05/evil.mp4" in caplog.text  # the link itself is named


def test_laps_segment_takes_the_same_files_as_dagster_discovery(landing):
    from pipeline.cli.segment import input_files

    root, _ = landing
    folder = root / "st1"
    listed = input_files(folder, recursive=True, exclude=None)
    keys = sorted(p.relative_to(folder).as_posix() for p in listed)
    assert keys == [i.key for i in landing_candidates(LocalStorage(folder))]
    station_keys = {f.key.removeprefix("st1/") for f in discover(open_storage(root))}
    assert set(keys) == station_keys  # the same files, whichever way they are listed
    flat = input_files(folder / DAY, recursive=False, exclude=None)
    assert sorted(p.name for p in flat) == [
        "alias.mp4", "dangling.mp4", "evil.mp4", "good.mp4", "outdir", "passwd.mp4",
    ]  # fmt: skip


def test_laps_segment_quarantines_links_out_of_its_input(landing, tmp_path):
    from lapstest.segment_stores import make_checkpoint

    from pipeline.cli.main import main

    root, outside = landing
    out = tmp_path / "out"
    args = ["segment", "--input", str(root / "st1" / DAY), "--output", str(out),
            "--checkpoint", str(make_checkpoint(tmp_path / "tiny.pt")), "--no-clips",
            "--no-shards", "--station", "st1", "--date", DAY]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code in (0, 1), result.output + repr(result.exception)
    assert str(outside) not in result.output and "/etc/passwd" not in result.output
    store = LocalStorage(out)
    videos = read_partition(store, "videos", DAY, "st1").to_pylist()
    assert [v["file_name"] for v in videos] == ["alias.mp4"]  # as Dagster's ingest takes it
    quarantine = read_partition(store, "quarantine", DAY, "st1").to_pylist()
    assert {q["file_name"]: q["reason"] for q in quarantine} == {
        "good.mp4": "duplicate",
        "dangling.mp4": SYMLINK_OUTSIDE,
        "evil.mp4": SYMLINK_OUTSIDE,
        "outdir": SYMLINK_OUTSIDE,
        "passwd.mp4": SYMLINK_OUTSIDE,
    }
    assert f"evil.mp4: {SYMLINK_OUTSIDE}" in " ".join(result.output.split())


def test_a_link_swapped_in_after_discovery_is_still_never_read(landing):
    root, outside = landing
    files = [f for f in discover(open_storage(root)) if f.key.endswith("good.mp4")]
    good = root / "st1" / DAY / "good.mp4"
    good.unlink()
    os.symlink(outside / "foreign.mp4", good)  # replaced between listing and ingest
    result = ingest_files(open_storage(root), files, known={}, video=VideoConfig(), windows=WIN)
    assert result.videos == []
    assert [(q["reason"], q["video_id"]) for q in result.quarantine] == [("unreadable", None)]
    assert str(outside) not in repr(result.quarantine)


@pytest.mark.parametrize(
    ("folder", "station"),
    [("st1", "st1"), ("Line 3", "Line-3"), ("caf\udce9", "caf"), ("_cam.", "cam"),
     ("a|b,c", "a-b-c"), ("###", None), ("x" * 80, "x" * 64)],
)  # fmt: skip
def test_station_folders_become_valid_station_names(folder, station):
    from pipeline.io.tables import validate_partition

    assert station_name(folder) == station
    if station is not None:
        validate_partition(DAY, station)


def test_station_and_date_from_odd_landing_paths(tmp_path, caplog):
    from pipeline.ingest.landing import landed_file
    from pipeline.io.storage import ObjectInfo

    for rel in ("Line 3/2026-13-45/2026-01-07/a.mp4", "###/2026-01-05/b.mp4"):
        make_video(tmp_path / rel, frames=20)
    found = {f.key: (f.station, f.date) for f in discover(open_storage(tmp_path))}
    assert found == {"Line 3/2026-13-45/2026-01-07/a.mp4": ("Line-3", "2026-01-07")}
    assert "###/2026-01-05/b.mp4" in caplog.text  # reported, not dropped silently
    assert "2026-13-45 is not a calendar date" in caplog.text
    from datetime import UTC, datetime

    info = ObjectInfo("st1/2026-02-30/c.mp4", 1, datetime(2026, 3, 4, tzinfo=UTC))
    lf = landed_file(info)
    assert lf is not None and lf.date == "2026-03-04"  # the file's date when the path has none
