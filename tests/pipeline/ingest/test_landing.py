import shutil
from pathlib import Path

import pytest
from videogen import make_video

from pipeline.config import VideoConfig, WindowConfig
from pipeline.ingest.landing import discover, plan_chunks, window_count
from pipeline.ingest.stage import chunk_partition, ingest_partition
from pipeline.io import schemas
from pipeline.io.storage import open_storage
from pipeline.io.tables import read_partition, schema_version_of

WIN = WindowConfig()


@pytest.fixture()
def dirs(tmp_path):
    landing, store = tmp_path / "landing", tmp_path / "store"
    day = landing / "st1" / "2026-01-05"
    make_video(day / "a.mp4", frames=60)
    make_video(day / "b.mp4", frames=45)
    shutil.copy(day / "a.mp4", day / "a_copy.mp4")  # same bytes under another name
    (day / "broken.mp4").write_bytes(b"\x00\x01garbage" * 50)
    make_video(landing / "st2" / "2026-01-05" / "c.mp4", frames=30)
    return open_storage(landing), open_storage(store)


def test_discover_takes_station_and_date_from_path(dirs):
    landing, _ = dirs
    found = {(f.key, f.station, f.date) for f in discover(landing)}
    assert ("st1/2026-01-05/a.mp4", "st1", "2026-01-05") in found
    assert ("st2/2026-01-05/c.mp4", "st2", "2026-01-05") in found
    assert len(found) == 5


def test_ingest_quarantines_and_reruns_identically(dirs):
    landing, store = dirs
    kw = {"video": VideoConfig(), "windows": WIN}
    result, summary = ingest_partition(landing, store, "2026-01-05", "st1", **kw)
    assert sorted(v["file_name"] for v in result.videos) == ["a.mp4", "b.mp4"]
    reasons = {q["file_name"]: q["reason"] for q in result.quarantine}
    assert reasons == {"a_copy.mp4": "duplicate", "broken.mp4": "unreadable"}
    first = read_partition(store, "videos", "2026-01-05", "st1")
    assert schema_version_of(first) == schemas.VIDEOS_VERSION == 3
    # where each file is, relative to the landing root: valid when the landing area moves
    assert sorted(first.column("landing_key").to_pylist()) == [
        "st1/2026-01-05/a.mp4",
        "st1/2026-01-05/b.mp4",
    ]
    quarantined = read_partition(store, "quarantine", "2026-01-05", "st1").to_pylist()
    assert {q["landing_key"] for q in quarantined} == {
        "st1/2026-01-05/a_copy.mp4",
        "st1/2026-01-05/broken.mp4",
    }
    # rerun: same rows, not duplicates
    ingest_partition(landing, store, "2026-01-05", "st1", **kw)
    again = read_partition(store, "videos", "2026-01-05", "st1")
    assert again.to_pylist() == first.to_pylist()


def test_video_seen_in_another_partition_is_skipped(dirs, tmp_path):
    landing, store = dirs
    kw = {"video": VideoConfig(), "windows": WIN}
    ingest_partition(landing, store, "2026-01-05", "st1", **kw)
    later = tmp_path / "landing" / "st1" / "2026-01-06"
    later.mkdir(parents=True)
    shutil.copy(tmp_path / "landing" / "st1" / "2026-01-05" / "b.mp4", later / "b_again.mp4")
    result, _ = ingest_partition(landing, store, "2026-01-06", "st1", **kw)
    assert result.videos == []
    assert result.skipped_known == [landing.uri("st1/2026-01-06/b_again.mp4")]


def test_chunks_own_every_window_once():
    video, fps = VideoConfig(chunk_seconds=10.0), 30.0
    frame_count = 30 * 95 + 7  # 95.2 s -> 953 normalized frames
    rows = plan_chunks("ab" * 32, fps, frame_count, video, WIN)
    n_norm = (frame_count + 2) // 3
    assert sum(r["num_windows"] for r in rows) == window_count(n_norm, WIN)
    expect = 0
    for r in rows:
        assert r["first_window_index"] == expect
        expect += r["num_windows"]
        # the chunk's frames cover all its windows: last window start + T frames
        last_start = (r["first_window_index"] + r["num_windows"] - 1) * WIN.stride_frames
        needed_end = (last_start + WIN.window_frames - 1) * 3  # source index of last frame
        assert r["end_frame"] > needed_end or r["num_windows"] == 0
        assert r["start_sec"] == pytest.approx(r["start_frame"] / fps)
    # consecutive chunks overlap by one window minus a stride
    assert rows[1]["start_frame"] < rows[0]["end_frame"]


def test_chunk_manifest_written(dirs):
    landing, store = dirs
    kw = {"video": VideoConfig(), "windows": WIN}
    ingest_partition(landing, store, "2026-01-05", "st1", **kw)
    rows, _ = chunk_partition(store, "2026-01-05", "st1", **kw)
    assert len(rows) == 2 and all(r["chunk_index"] == 0 for r in rows)
    table = read_partition(store, "chunks", "2026-01-05", "st1")
    assert table.num_rows == 2


def test_discover_matches_extensions_case_insensitively(tmp_path):
    day = tmp_path / "st1" / "2026-01-05"
    make_video(day / "A.MP4", frames=30)
    make_video(day / "b.Mov", frames=30)
    (day / "notes.TXT").write_text("not a video")
    make_video(day / "._A.MP4", frames=30)  # hidden: macOS metadata, never a video to take
    make_video(tmp_path / "st1" / ".staging" / "c.mp4", frames=30)
    found = sorted(f.key for f in discover(open_storage(tmp_path)))
    assert found == ["st1/2026-01-05/A.MP4", "st1/2026-01-05/b.Mov"]


@pytest.mark.parametrize("date", ["2026-13-45", "2026-02-30", "26-01-01"])
def test_partition_dates_must_be_calendar_dates(date):
    from pipeline.io.tables import validate_partition

    with pytest.raises(ValueError, match="date"):
        validate_partition(date, "st1")
    validate_partition("2026-02-28", "st1")


def test_a_non_utf8_name_is_kept_losslessly_and_a_vanished_file_is_quarantined(tmp_path):
    import os
    from datetime import UTC, datetime

    from pipeline.ingest.landing import LandedFile, ingest_files
    from pipeline.tracks.stage import open_video_uri, video_location

    day = tmp_path / "landing" / "st1" / "2026-01-05"
    make_video(day / "good.mp4", frames=40)
    raw = os.fsencode(day) + b"/caf\xe9-latin1.mp4"  # a name that is not UTF-8
    make_video(Path(os.fsdecode(raw)), frames=35)
    make_video(day / "other.mp4", frames=30)
    landing, store = open_storage(tmp_path / "landing"), open_storage(tmp_path / "store")
    files = discover(landing)
    assert len(files) == 3
    gone = LandedFile("st1/2026-01-05/gone.mp4", "st1", "2026-01-05", 10, datetime.now(UTC))
    result = ingest_files(landing, [*files, gone], known={}, video=VideoConfig(), windows=WIN)
    names = sorted(v["file_name"] for v in result.videos)
    assert names == ["caf\\xe9-latin1.mp4", "good.mp4", "other.mp4"]
    assert {q["file_name"]: q["reason"] for q in result.quarantine} == {"gone.mp4": "unreadable"}
    # the tables hold the printable text and the exact bytes; the bytes find the file again
    _, summary = ingest_partition(
        landing, store, "2026-01-05", "st1", video=VideoConfig(), windows=WIN
    )
    assert summary.rows == {"videos": 3, "quarantine": 0}
    rows = read_partition(store, "videos", "2026-01-05", "st1").to_pylist()
    latin = next(r for r in rows if r["file_name"].startswith("caf"))
    assert latin["uri_bytes"] == raw
    assert latin["uri"].endswith("caf\\xe9-latin1.mp4")
    with open_video_uri(video_location(latin)) as path:
        assert os.fsencode(path) == raw
    # rows written before schema v2 have no uri_bytes: the uri is the location
    assert video_location({"uri": "/x/a.mp4", "uri_bytes": None}) == "/x/a.mp4"


def test_a_file_over_the_size_limit_is_quarantined_without_being_read(tmp_path, monkeypatch):
    import pipeline.ingest.landing as landing_mod
    from pipeline.ingest.landing import ingest_files

    day = tmp_path / "landing" / "st1" / "2026-01-05"
    make_video(day / "big.mp4", frames=30)
    landing = open_storage(tmp_path / "landing")

    def never(path, *a, **k):
        raise AssertionError(f"{path} was read")

    monkeypatch.setattr(landing_mod, "sha256_file", never)
    result = ingest_files(
        landing, discover(landing), known={}, video=VideoConfig(max_file_gb=1e-6), windows=WIN
    )
    assert [(q["file_name"], q["reason"]) for q in result.quarantine] == [
        ("big.mp4", "file_too_large")
    ]
    assert "max_file_gb=1e-06" in result.quarantine[0]["detail"]


def test_every_landed_file_not_taken_is_reported_with_a_reason(tmp_path):
    day = tmp_path / "landing" / "st1" / "2026-01-05"
    make_video(day / "a.mp4", frames=30)
    (day / "notes.txt").write_text("shift notes")
    make_video(day / "._a.mp4", frames=30)
    make_video(tmp_path / "landing" / "loose.mp4", frames=30)  # no station folder
    make_video(tmp_path / "landing" / "st2" / "2026-01-05" / "b.mp4", frames=30)
    landing, store = open_storage(tmp_path / "landing"), open_storage(tmp_path / "store")
    _, summary = ingest_partition(
        landing, store, "2026-01-05", "st1", video=VideoConfig(), windows=WIN
    )
    assert summary.rows["videos"] == 1
    assert sorted((x["file"], x["reason"]) for x in summary.extra["not_taken"]) == [
        ("st1/2026-01-05/._a.mp4", "hidden"),
        ("st1/2026-01-05/notes.txt", "not_a_video"),
    ]
    from pipeline.ingest.landing import not_taken

    assert {"file": "loose.mp4", "reason": "no_station_folder"} in not_taken(landing)
