"""Segment JSON: round trip, atomic write, validation errors listing every problem."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import SegmentFileError
from pipeline.segments.segfile import (
    Segment,
    SegmentFile,
    fill_gaps,
    parse_segments,
    read_segments,
    stem_of,
    write_segments,
)


def _doc(segments: list[dict]) -> dict:
    return {"video": "cam1.mp4", "fps": 10.0, "duration_sec": 10.0, "segments": segments}


def test_round_trip(tmp_path: Path) -> None:
    sf = SegmentFile(
        "cam1.mp4", 30.0, 10.0, (Segment(0.0, 2.5, "reach"), Segment(2.5, 10.0)), {"method": "x"}
    )
    path = write_segments(tmp_path / "out" / "cam1.segments.json", sf)
    assert read_segments(path) == sf
    assert [p.name for p in path.parent.iterdir()] == ["cam1.segments.json"]
    raw = json.loads(path.read_text())
    assert "label" not in raw["segments"][1]


def test_write_refuses_invalid_and_leaves_nothing(tmp_path: Path) -> None:
    bad = SegmentFile("v.mp4", 10.0, 5.0, (Segment(0.0, 6.0),))
    with pytest.raises(SegmentFileError, match="duration_sec"):
        write_segments(tmp_path / "v.segments.json", bad)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("segments", "needle"),
    [
        ([{"start_sec": 0, "end_sec": 3}, {"start_sec": 2, "end_sec": 4}], "overlaps"),
        ([{"start_sec": 4, "end_sec": 5}, {"start_sec": 1, "end_sec": 2}], "unsorted"),
        ([{"start_sec": 8, "end_sec": 10.2}], "> duration_sec"),
        ([{"start_sec": -1, "end_sec": 2}], "< 0"),
        ([{"start_sec": 3, "end_sec": 3}], "<= start_sec"),
        ([{"start_sec": 3}], "missing"),
        ([{"start_sec": "a", "end_sec": 3}], "must be a number"),
        ([{"start_sec": 0, "end_sec": 3, "lable": "x"}], "unknown keys"),
    ],
)
def test_validation_errors(segments: list[dict], needle: str) -> None:
    with pytest.raises(SegmentFileError, match=needle):
        parse_segments(_doc(segments))


def test_half_frame_slack_accepted() -> None:
    sf = parse_segments(_doc([{"start_sec": -0.04, "end_sec": 10.04}]))
    assert sf.segments[0].end_sec == 10.04


def test_all_problems_reported_at_once() -> None:
    doc = _doc([{"start_sec": 0, "end_sec": 3}, {"start_sec": 2, "end_sec": 12}])
    doc["fps"] = 0
    with pytest.raises(SegmentFileError) as info:
        parse_segments(doc, "x.json")
    assert len(info.value.problems) >= 2
    assert info.value.source == "x.json"


def test_bad_json_and_bad_top_level(tmp_path: Path) -> None:
    path = tmp_path / "a.segments.json"
    path.write_text("{not json")
    with pytest.raises(SegmentFileError, match="invalid JSON"):
        read_segments(path)
    with pytest.raises(SegmentFileError, match="missing keys"):
        parse_segments({"video": "a"})


def test_stem_and_fill_gaps() -> None:
    assert stem_of("x/cam1_0001.segments.json") == "cam1_0001"
    with pytest.raises(SegmentFileError):
        stem_of("cam1.json")
    filled = fill_gaps([Segment(1.0, 2.0, "a"), Segment(2.0000001, 3.0, "b")], duration_sec=5.0)
    assert [(s.start_sec, s.end_sec, s.label) for s in filled] == [
        (0.0, 1.0, "idle"),
        (1.0, 2.0, "a"),
        (2.0, 3.0, "b"),
        (3.0, 5.0, "idle"),
    ]
