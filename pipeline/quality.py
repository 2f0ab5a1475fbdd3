"""Data-quality rules the asset checks apply (pure functions, unit-tested)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RateCheck:
    """Is this partition's segments-per-minute inside the station's usual range?"""

    rate: float  # segments per minute of video in this partition
    low: float | None  # usual range from earlier partitions (None: not enough history)
    high: float | None
    history: int  # earlier partitions the range is based on

    @property
    def passed(self) -> bool:
        if self.low is None or self.high is None:
            return True
        return self.low <= self.rate <= self.high

    @property
    def description(self) -> str:
        if self.low is None:
            return (
                f"{self.rate:.2f} segments/min; {self.history} earlier partitions "
                "(need 3 for a usual range)"
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
    history: list[float], *, min_history: int = 3, k: float = 4.0, floor: float = 0.25
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


def check_chunk_rows(rows: list[dict]) -> tuple[bool, bool]:
    """(windows contiguous, times monotonic) of a chunk manifest: each video's chunks own
    windows 0..W-1 exactly once, in order, and their frames and seconds increase."""
    contiguous = monotonic = True
    for vrows in _by_video(rows, "chunk_index"):
        expect = 0
        for prev, r in zip([None, *vrows[:-1]], vrows, strict=True):
            contiguous &= r["first_window_index"] == expect
            expect += r["num_windows"]
            monotonic &= r["start_frame"] < r["end_frame"] and r["start_sec"] < r["end_sec"]
            if prev is not None:
                monotonic &= prev["start_frame"] < r["start_frame"]
    return bool(contiguous), bool(monotonic)


def check_window_rows(rows: list[dict]) -> tuple[bool, bool]:
    """(indexes contiguous, times monotonic) of windows: each video's windows are numbered
    0..W-1 with no gap, start times increase and each window ends after it starts."""
    contiguous = monotonic = True
    for vrows in _by_video(rows, "window_index"):
        contiguous &= [r["window_index"] for r in vrows] == list(range(len(vrows)))
        starts = [r["start_sec"] for r in vrows]
        monotonic &= all(a < b for a, b in zip(starts, starts[1:], strict=False))
        monotonic &= all(r["start_sec"] < r["end_sec"] for r in vrows)
    return bool(contiguous), bool(monotonic)


def station_rate_history(store, station: str, *, before: str) -> list[float]:
    """Segments per minute of the station's partitions dated before ``before`` (from the
    store's ``segments`` and ``videos`` tables; ``store`` is a ``pipeline.io.storage.Storage``)."""
    from pipeline.io.tables import read_table

    segs = read_table(store, "segments", station=station)
    vids = read_table(store, "videos", station=station)
    if segs is None or vids is None:
        return []
    counts: dict[str, int] = {}
    for d in segs.column("date").to_pylist():
        counts[d] = counts.get(d, 0) + 1
    seconds: dict[str, float] = {}
    for d, s in zip(
        vids.column("date").to_pylist(), vids.column("duration_sec").to_pylist(), strict=True
    ):
        seconds[d] = seconds.get(d, 0.0) + s
    return [segment_rate(counts.get(d, 0), s) for d, s in sorted(seconds.items()) if d < before]
