"""Shared pieces of the segmenters: input checks, index <-> time mapping, idle filling.

Index convention (ruptures-like): a segmenter is fitted on ``n`` samples with times ``t``
(n,), strictly increasing, in seconds of the source video. A span ``(i, j)`` covers samples
``i .. j-1``; in seconds it is ``[t[i], t[j])`` with ``t[n] := end_sec`` (the end of the last
sample, by default ``t[-1]`` plus the median sample spacing). What ``t`` means is the caller's
choice and is documented where the signal is made: window centres for ``EnergySeries``, step
starts for ``StepTimeline`` (pipeline.segments.energy).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.errors import SegmenterError
from pipeline.segments.segfile import Segment

ACTIVE_LABEL = "active"
# Pieces of a station whose thresholds could not be calibrated: change points without an
# idle/active decision (never published; see docs/method.md, "when calibration fails").
UNCALIBRATED_LABEL = "uncalibrated"


def check_times(times: np.ndarray, n: int) -> np.ndarray:
    """(n,) float64 strictly increasing finite times, or ``SegmenterError``."""
    t = np.asarray(times, dtype=np.float64)
    if t.shape != (n,):
        raise SegmenterError(f"times shape {t.shape} does not match {n} samples")
    if not np.all(np.isfinite(t)):
        raise SegmenterError("times contain non-finite values")
    if n > 1 and np.any(np.diff(t) <= 0):
        bad = int(np.argmax(np.diff(t) <= 0))
        raise SegmenterError(
            f"times must increase strictly; t[{bad}]={t[bad]}, t[{bad + 1}]={t[bad + 1]}"
        )
    return t


def check_signal(signal: np.ndarray) -> np.ndarray:
    """(n, d) float64 finite signal from (n,) or (n, d); ``SegmenterError`` otherwise."""
    x = np.asarray(signal, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[0] == 0:
        raise SegmenterError(f"signal must be (n,) or (n, d) with n > 0, got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise SegmenterError("signal contains non-finite values")
    return x


def default_end_sec(times: np.ndarray) -> float:
    """End of the last sample: ``t[-1]`` plus the median spacing (plus 1 s for one sample)."""
    if times.size < 2:
        return float(times[-1]) + 1.0
    return float(times[-1] + np.median(np.diff(times)))


def span_to_segment(
    span: tuple[int, int], times: np.ndarray, end_sec: float, label: str | None
) -> Segment:
    """Index span ``(i, j)`` -> ``Segment(t[i], t[j] or end_sec, label)``."""
    i, j = span
    if not 0 <= i < j <= times.size:
        raise SegmenterError(f"span {span} outside 0..{times.size}")
    end = float(times[j]) if j < times.size else float(end_sec)
    return Segment(float(times[i]), end, label)


def bkps_to_spans(bkps: Sequence[int], n: int) -> list[tuple[int, int]]:
    """ruptures breakpoints (segment ends, last == n) -> contiguous spans ``(i, j)``."""
    if not bkps or bkps[-1] != n:
        raise SegmenterError(f"breakpoints must end with n={n}, got {list(bkps)[-3:]}")
    starts = [0, *bkps[:-1]]
    return [(int(a), int(b)) for a, b in zip(starts, bkps, strict=True)]
