"""Segment files: the JSON both ground truth and predictions are written in (docs/formats.md).

Schema::

    {"video": "<file name>", "fps": <float>, "duration_sec": <float>,
     "segments": [{"start_sec": <float>, "end_sec": <float>, "label": <str, optional>}],
     "meta": {<optional, free-form provenance: segmenter, thresholds, ...>}}

Validation collects every problem of a file and raises one ``SegmentFileError`` listing them:
non-positive fps or duration, a segment with ``end_sec <= start_sec``, segments not sorted by
start, overlapping segments, or a segment outside ``[0, duration_sec]``. Endpoints may stray by
up to half a frame (``0.5 / fps`` seconds) outside the video, the rounding of frame-accurate
annotations; they are never clipped silently. Gaps between segments are allowed (see
``fill_gaps``). Writes are atomic: a temporary file in the same folder, then a rename.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import SegmentFileError
from pipeline.io.keys import SEGMENT_SUFFIX

log = logging.getLogger(__name__)

IDLE_LABEL = "idle"
OVERLAP_TOL_SEC = 1e-6  # two segments may touch up to float rounding
_TOP_KEYS = frozenset({"video", "fps", "duration_sec", "segments", "meta"})
_REQUIRED_TOP = ("video", "fps", "duration_sec", "segments")
_SEG_KEYS = frozenset({"start_sec", "end_sec", "label"})


@dataclass(frozen=True)
class Segment:
    """One time span ``[start_sec, end_sec)`` in seconds of the source video; label optional."""

    start_sec: float
    end_sec: float
    label: str | None = None

    @property
    def duration_sec(self) -> float:
        return self.end_sec - self.start_sec


@dataclass(frozen=True)
class SegmentFile:
    """The content of one ``<stem>.segments.json``."""

    video: str
    fps: float
    duration_sec: float
    segments: tuple[Segment, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    def validate(self, source: str = "<memory>") -> SegmentFile:
        """Raise ``SegmentFileError`` listing every problem; return self when valid."""
        problems = segment_problems(self.segments, fps=self.fps, duration_sec=self.duration_sec)
        if not self.video:
            problems.insert(0, "'video' is empty")
        if problems:
            raise SegmentFileError(source, problems)
        return self

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "video": self.video,
            "fps": float(self.fps),
            "duration_sec": float(self.duration_sec),
            "segments": [_segment_dict(s) for s in self.segments],
        }
        if self.meta:
            out["meta"] = self.meta
        return out


def stem_of(path: str | Path) -> str:
    """``"a/b/cam1_0001.segments.json"`` -> ``"cam1_0001"``; raises for other names."""
    name = Path(path).name
    if not name.endswith(SEGMENT_SUFFIX) or len(name) == len(SEGMENT_SUFFIX):
        raise SegmentFileError(str(path), [f"file name must end with {SEGMENT_SUFFIX!r}"])
    return name[: -len(SEGMENT_SUFFIX)]


def segment_problems(segments: Sequence[Segment], *, fps: float, duration_sec: float) -> list[str]:
    """Every schema problem of a segmentation, as readable strings (empty list = valid)."""
    problems: list[str] = []
    if not (math.isfinite(fps) and fps > 0):
        problems.append(f"fps must be a positive number, got {fps!r}")
    if not (math.isfinite(duration_sec) and duration_sec > 0):
        problems.append(f"duration_sec must be a positive number, got {duration_sec!r}")
    slack = 0.5 / fps if math.isfinite(fps) and fps > 0 else 0.0
    prev: Segment | None = None
    for i, seg in enumerate(segments):
        if not (math.isfinite(seg.start_sec) and math.isfinite(seg.end_sec)):
            problems.append(f"segment {i}: non-finite time ({seg.start_sec}, {seg.end_sec})")
            continue
        if seg.end_sec <= seg.start_sec:
            problems.append(f"segment {i}: end_sec {seg.end_sec} <= start_sec {seg.start_sec}")
        if seg.start_sec < -slack:
            problems.append(f"segment {i}: start_sec {seg.start_sec} < 0")
        if math.isfinite(duration_sec) and seg.end_sec > duration_sec + slack:
            problems.append(f"segment {i}: end_sec {seg.end_sec} > duration_sec {duration_sec}")
        if prev is not None:
            if seg.start_sec < prev.start_sec:
                problems.append(
                    f"segment {i}: unsorted, start_sec {seg.start_sec} < previous {prev.start_sec}"
                )
            elif seg.start_sec < prev.end_sec - OVERLAP_TOL_SEC:
                problems.append(
                    f"segment {i}: overlaps previous, start_sec {seg.start_sec} < {prev.end_sec}"
                )
        prev = seg
    return problems


def fill_gaps(
    segments: Sequence[Segment], *, duration_sec: float, label: str = IDLE_LABEL
) -> list[Segment]:
    """Full-coverage segmentation of ``[0, duration_sec]``: gaps become ``label`` segments.

    Input must be sorted and non-overlapping. Gaps shorter than ``OVERLAP_TOL_SEC`` are closed
    by moving the next start back; endpoints beyond ``[0, duration_sec]`` (at most half a frame
    for validated files) are clipped to it.
    """
    out: list[Segment] = []
    cursor = 0.0
    for seg in segments:
        start = max(cursor, seg.start_sec)
        end = min(duration_sec, seg.end_sec)
        if end <= start:
            continue
        if start - cursor > OVERLAP_TOL_SEC:
            out.append(Segment(cursor, start, label))
        else:
            start = cursor
        out.append(Segment(start, end, seg.label))
        cursor = end
    if duration_sec - cursor > OVERLAP_TOL_SEC:
        out.append(Segment(cursor, duration_sec, label))
    elif out:
        out[-1] = Segment(out[-1].start_sec, duration_sec, out[-1].label)
    return out


def _segment_dict(seg: Segment) -> dict[str, Any]:
    out: dict[str, Any] = {"start_sec": float(seg.start_sec), "end_sec": float(seg.end_sec)}
    if seg.label is not None:
        out["label"] = seg.label
    return out


def _number(value: Any, what: str, problems: list[str]) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        problems.append(f"{what} must be a number, got {value!r}")
        return math.nan
    try:
        return float(value)
    except OverflowError:  # an integer literal beyond float range (JSON allows any digits)
        problems.append(f"{what} is out of range, got a {value.bit_length()}-bit integer")
        return math.nan


def _parse_segment(i: int, raw: Any, problems: list[str]) -> Segment | None:
    if not isinstance(raw, dict):
        problems.append(f"segment {i}: must be an object, got {type(raw).__name__}")
        return None
    unknown = set(raw) - _SEG_KEYS
    if unknown:
        problems.append(f"segment {i}: unknown keys {sorted(unknown)}")
    missing = [k for k in ("start_sec", "end_sec") if k not in raw]
    if missing:
        problems.append(f"segment {i}: missing {missing}")
        return None
    label = raw.get("label")
    if label is not None and not isinstance(label, str):
        problems.append(f"segment {i}: label must be a string, got {label!r}")
        label = None
    start = _number(raw["start_sec"], f"segment {i}: start_sec", problems)
    end = _number(raw["end_sec"], f"segment {i}: end_sec", problems)
    return Segment(start, end, label)


def parse_segments(data: Any, source: str = "<memory>") -> SegmentFile:
    """Build and validate a ``SegmentFile`` from decoded JSON; all problems in one error."""
    if not isinstance(data, dict):
        raise SegmentFileError(source, [f"top level must be an object, got {type(data).__name__}"])
    problems: list[str] = []
    missing = [k for k in _REQUIRED_TOP if k not in data]
    if missing:
        problems.append(f"missing keys {missing}")
    unknown = set(data) - _TOP_KEYS
    if unknown:
        problems.append(f"unknown keys {sorted(unknown)}")
    if problems:
        raise SegmentFileError(source, problems)
    video = data["video"]
    if not isinstance(video, str):
        problems.append(f"'video' must be a string, got {video!r}")
        video = ""
    fps = _number(data["fps"], "fps", problems)
    duration = _number(data["duration_sec"], "duration_sec", problems)
    raw_segments = data["segments"]
    if not isinstance(raw_segments, list):
        raise SegmentFileError(source, [*problems, "'segments' must be a list"])
    meta = data.get("meta", {})
    if not isinstance(meta, dict):
        problems.append(f"'meta' must be an object, got {type(meta).__name__}")
        meta = {}
    parsed = [_parse_segment(i, raw, problems) for i, raw in enumerate(raw_segments)]
    segments = tuple(s for s in parsed if s is not None)
    if problems:
        raise SegmentFileError(source, problems)
    return SegmentFile(video, fps, duration, segments, meta).validate(source)


def read_segments(path: str | Path) -> SegmentFile:
    """Read and validate one segment file; ``SegmentFileError`` on any schema problem."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise SegmentFileError(str(path), [f"not UTF-8 text: {exc}"]) from exc
    except (ValueError, RecursionError) as exc:  # bad JSON, > 4300 digits, nested too deep
        raise SegmentFileError(str(path), [f"invalid JSON: {exc}"]) from exc
    return parse_segments(data, str(path))


def write_segments(path: str | Path, segfile: SegmentFile) -> Path:
    """Validate, then write atomically (temp file in the same folder + ``os.replace``)."""
    path = Path(path)
    segfile.validate(str(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(segfile.to_dict(), indent=1, sort_keys=False) + "\n"
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.debug("wrote %d segments to %s", len(segfile.segments), path)
    return path
