"""Data-quality rules the asset checks apply (pure functions, unit-tested)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MIN_HISTORY = 3  # earlier partitions of a station before its usual segment rate is known


@dataclass(frozen=True)
class RateCheck:
    """Is this partition's segments-per-minute inside the station's usual range?"""

    rate: float  # segments per minute of video in this partition
    low: float | None  # usual range from earlier partitions (None: not enough history)
    high: float | None
    history: int  # earlier partitions the range is based on

    @property
    def enough_history(self) -> bool:
        return self.low is not None and self.high is not None

    @property
    def passed(self) -> bool:
        """Inside the usual range; False without enough history (nothing to compare with is
        not a pass: the asset reports it as a WARN-level failure)."""
        if self.low is None or self.high is None:
            return False
        return self.low <= self.rate <= self.high

    @property
    def description(self) -> str:
        if self.low is None:
            return (
                f"not enough history: {self.history} earlier partitions, need {MIN_HISTORY} "
                f"({self.rate:.2f} segments/min)"
            )
        verdict = "inside" if self.passed else "OUTSIDE"
        return (
            f"{self.rate:.2f} segments/min, {verdict} the usual range "
            f"[{self.low:.2f}, {self.high:.2f}] of {self.history} earlier partitions"
        )


def segment_rate(n_segments: int, video_seconds: float) -> float:
    """Segments per minute of video (0 when there is no video)."""
    return 0.0 if video_seconds <= 0 else 60.0 * n_segments / video_seconds


def usual_range(
    history: list[float], *, min_history: int = MIN_HISTORY, k: float = 4.0, floor: float = 0.25
) -> tuple[float | None, float | None]:
    """Median +- k robust deviations (1.4826 * MAD) of earlier rates, widened to at least
    +- ``floor`` x median so a very regular station is not flagged for tiny changes."""
    if len(history) < min_history:
        return None, None
    h = np.asarray(history, float)
    med = float(np.median(h))
    spread = max(k * 1.4826 * float(np.median(np.abs(h - med))), floor * med)
    return max(0.0, med - spread), med + spread


def check_segment_rate(n_segments: int, video_seconds: float, history: list[float]) -> RateCheck:
    low, high = usual_range(history)
    return RateCheck(segment_rate(n_segments, video_seconds), low, high, len(history))


def _by_video(rows: list[dict], order: str) -> list[list[dict]]:
    """Rows grouped by ``video_id``, each group sorted by ``order``."""
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["video_id"], []).append(r)
    return [sorted(g, key=lambda r: r[order]) for g in groups.values()]


def chunk_problems(rows: list[dict]) -> tuple[list[str], list[str]]:
    """Videos (ids, sorted) whose chunks do not own windows 0..W-1 exactly once, in order, and
    those whose chunk frames and seconds do not increase."""
    gaps, backwards = [], []
    for vrows in _by_video(rows, "chunk_index"):
        expect, contiguous, monotonic = 0, True, True
        for prev, r in zip([None, *vrows[:-1]], vrows, strict=True):
            contiguous &= r["first_window_index"] == expect
            expect += r["num_windows"]
            monotonic &= r["start_frame"] < r["end_frame"] and r["start_sec"] < r["end_sec"]
            if prev is not None:
                monotonic &= prev["start_frame"] < r["start_frame"]
                monotonic &= prev["chunk_index"] < r["chunk_index"]  # a repeated chunk
        if not contiguous:
            gaps.append(vrows[0]["video_id"])
        if not monotonic:
            backwards.append(vrows[0]["video_id"])
    return sorted(gaps), sorted(backwards)


def check_chunk_rows(rows: list[dict]) -> tuple[bool, bool]:
    """(windows contiguous, times monotonic) of a chunk manifest (see ``chunk_problems``)."""
    gaps, backwards = chunk_problems(rows)
    return not gaps, not backwards


def window_problems(rows: list[dict]) -> tuple[list[str], list[str]]:
    """Videos (ids, sorted) whose windows are not numbered 0..W-1 with no gap or repeat, and
    those whose window start times do not increase or whose windows end before they start."""
    gaps, backwards = [], []
    for vrows in _by_video(rows, "window_index"):
        if [r["window_index"] for r in vrows] != list(range(len(vrows))):
            gaps.append(vrows[0]["video_id"])
        starts = [r["start_sec"] for r in vrows]
        if not all(a < b for a, b in zip(starts, starts[1:], strict=False)) or not all(
            r["start_sec"] < r["end_sec"] for r in vrows
        ):
            backwards.append(vrows[0]["video_id"])
    return sorted(gaps), sorted(backwards)


def check_window_rows(rows: list[dict]) -> tuple[bool, bool]:
    """(indexes contiguous, times monotonic) of windows (see ``window_problems``)."""
    gaps, backwards = window_problems(rows)
    return not gaps, not backwards


def segment_problems(rows: list[dict]) -> list[str]:
    """Videos (ids, sorted) whose segments are not numbered 0..n-1 in time order, end before
    they start, or overlap the previous segment."""
    bad = []
    for vrows in _by_video(rows, "segment_index"):
        ok = [r["segment_index"] for r in vrows] == list(range(len(vrows)))
        ok &= all(
            r["start_frame"] < r["end_frame"] and r["start_sec"] < r["end_sec"] for r in vrows
        )
        ok &= all(
            a["end_frame"] <= b["start_frame"] and a["end_sec"] <= b["start_sec"]
            for a, b in zip(vrows, vrows[1:], strict=False)
        )
        if not ok:
            bad.append(vrows[0]["video_id"])
    return sorted(bad)


def station_rate_history(store, station: str, *, before: str) -> list[float]:
    """Segments per minute of this station's segmented partitions dated before ``before`` (from
    the store's ``segments`` and ``videos`` tables; ``store`` is a ``pipeline.io.storage.Storage``).
    Only this station's dates that have a segments table count: another station, or a date
    ingested but never segmented, is not history."""
    from pipeline.io.tables import list_partitions, read_table

    segmented = {d for d, st in list_partitions(store, "segments") if st == station}
    segs = read_table(store, "segments", station=station)
    vids = read_table(store, "videos", station=station)
    if vids is None:
        return []
    counts: dict[str, int] = {}
    for d in segs.column("date").to_pylist() if segs is not None else []:
        counts[d] = counts.get(d, 0) + 1
    seconds: dict[str, float] = {}
    for d, s in zip(
        vids.column("date").to_pylist(), vids.column("duration_sec").to_pylist(), strict=True
    ):
        seconds[d] = seconds.get(d, 0.0) + s
    return [
        segment_rate(counts.get(d, 0), s)
        for d, s in sorted(seconds.items())
        if d < before and d in segmented
    ]
