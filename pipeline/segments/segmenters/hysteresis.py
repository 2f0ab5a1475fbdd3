"""Energy hysteresis segmenter (docs/method.md stage 5): causal EMA + debounced state machine.

State machine over the smoothed energy ``y`` (one value per window):

- **idle -> active**: ``y > thr_on`` for ``up`` consecutive windows. The segment starts at the
  first window of that run (the decision is causal; the start is back-dated to the run's start).
- **active -> idle**: ``y < thr_off = off_ratio * thr_on`` for ``down`` consecutive windows. The
  segment ends (exclusive) at the first window of that run.
- **cooldown**: after a segment ends, the next ``cooldown`` windows cannot count towards a start.
- **min length**: segments shorter than ``min_len`` windows are dropped (their windows are idle).
- **max length** (``max_len_sec``, seconds; ``None`` = no cap): when the active segment reaches
  the cap (``t[j] - t[start] >= max_len_sec`` at window ``j``) it is cut at ``j`` and a new
  segment starts at ``j`` at once (no debounce, no cooldown, down count reset): long activity is
  tiled into pieces of the cap rounded up to whole windows, as in the reference's 2 s cap.
  A tail tile shorter than ``min_len`` is dropped like any short segment.
- A segment still active at the end of the signal ends at the end of the signal.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
from pydantic import Field

from pipeline.config import FrozenConfig
from pipeline.errors import NotFittedError
from pipeline.segments.energy import ema
from pipeline.segments.segfile import Segment
from pipeline.segments.segmenters.base import (
    ACTIVE_LABEL,
    check_signal,
    check_times,
    default_end_sec,
    span_to_segment,
)

log = logging.getLogger(__name__)


class HysteresisParams(FrozenConfig):
    """Parameters of ``HysteresisSegmenter`` (units: windows unless named ``_sec``)."""

    thr_on: float = Field(gt=0, description="start threshold on the smoothed energy")
    max_len_sec: float | None = Field(gt=0, description="segment cap in seconds; None = no cap")
    alpha: float = Field(0.7, gt=0, le=1, description="EMA weight of the newest window")
    off_ratio: float = Field(0.95, gt=0, le=1, description="thr_off = off_ratio * thr_on")
    up: int = Field(2, ge=1, description="windows above thr_on to start")
    down: int = Field(2, ge=1, description="windows below thr_off to end")
    cooldown: int = Field(1, ge=0, description="windows after an end that cannot start")
    min_len: int = Field(3, ge=1, description="shortest kept segment, windows")

    @property
    def thr_off(self) -> float:
        return self.off_ratio * self.thr_on


# The hysteresis defaults, in one place: the segmenter, the calibration and SegmentationConfig
# take theirs from here.
DEFAULTS: dict[str, float | int] = {
    name: info.default
    for name, info in HysteresisParams.model_fields.items()
    if name not in ("thr_on", "max_len_sec")
}


@dataclass
class _Machine:
    """Mutable state of one pass of the state machine."""

    p: HysteresisParams
    times: np.ndarray
    spans: list[tuple[int, int]] = field(default_factory=list)
    active: bool = False
    start: int = 0
    run: int = 0
    cool: int = 0

    def close(self, end: int) -> None:
        if end - self.start >= self.p.min_len:
            self.spans.append((self.start, end))

    def step_idle(self, t: int, y: float) -> None:
        if self.cool > 0:
            self.cool -= 1
            self.run = 0
            return
        self.run = self.run + 1 if y > self.p.thr_on else 0
        if self.run >= self.p.up:
            self.active, self.start, self.run = True, t - self.p.up + 1, 0

    def step_active(self, t: int, y: float) -> None:
        cap = self.p.max_len_sec
        if cap is not None and self.times[t] - self.times[self.start] >= cap:
            self.close(t)
            self.start, self.run = t, 0
        self.run = self.run + 1 if y < self.p.thr_off else 0
        if self.run >= self.p.down:
            self.close(t - self.p.down + 1)
            self.active, self.run, self.cool = False, 0, self.p.cooldown


def hysteresis_spans(
    y: np.ndarray, times: np.ndarray, params: HysteresisParams
) -> list[tuple[int, int]]:
    """Active spans ``(i, j)`` (windows ``i..j-1``) of the smoothed energy ``y`` (n,)."""
    m = _Machine(params, times)
    for t, value in enumerate(np.asarray(y, dtype=float)):
        if m.active:
            m.step_active(t, float(value))
        else:
            m.step_idle(t, float(value))
    if m.active:
        m.close(len(y))
    return m.spans


class HysteresisSegmenter:
    """Active segments of a per-window energy: ``fit(energy, times)`` then ``predict()``.

    ``times`` (n,) seconds, window centres for an ``EnergySeries``. After ``fit``:
    ``smoothed_`` (n,) EMA of the energy, ``spans_`` the active index spans.
    """

    def __init__(
        self,
        *,
        thr_on: float,
        max_len_sec: float | None,
        alpha: float = DEFAULTS["alpha"],
        off_ratio: float = DEFAULTS["off_ratio"],
        up: int = DEFAULTS["up"],
        down: int = DEFAULTS["down"],
        cooldown: int = DEFAULTS["cooldown"],
        min_len: int = DEFAULTS["min_len"],
    ) -> None:
        self.params = HysteresisParams(
            thr_on=thr_on,
            max_len_sec=max_len_sec,
            alpha=alpha,
            off_ratio=off_ratio,
            up=up,
            down=down,
            cooldown=cooldown,
            min_len=min_len,
        )
        self.smoothed_: np.ndarray | None = None
        self.spans_: list[tuple[int, int]] | None = None
        self.times_: np.ndarray | None = None
        self.end_sec_: float = 0.0

    @classmethod
    def from_params(cls, params: HysteresisParams) -> HysteresisSegmenter:
        return cls(**params.model_dump())

    @property
    def thr_off(self) -> float:
        return self.params.thr_off

    def fit(
        self, signal: np.ndarray, times: np.ndarray, *, end_sec: float | None = None
    ) -> HysteresisSegmenter:
        """Smooth the (n,) energy causally and run the state machine."""
        x = check_signal(signal)
        if x.shape[1] != 1:
            raise ValueError(f"hysteresis needs a 1-d energy, got shape {np.shape(signal)}")
        self.times_ = check_times(times, x.shape[0])
        self.end_sec_ = default_end_sec(self.times_) if end_sec is None else float(end_sec)
        self.smoothed_ = ema(x[:, 0], alpha=self.params.alpha)
        self.spans_ = hysteresis_spans(self.smoothed_, self.times_, self.params)
        log.debug("hysteresis: %d active spans over %d windows", len(self.spans_), x.shape[0])
        return self

    def _fitted(self) -> tuple[list[tuple[int, int]], np.ndarray]:
        if self.spans_ is None or self.times_ is None:
            raise NotFittedError("HysteresisSegmenter.predict called before fit")
        return self.spans_, self.times_

    def predict_index(self) -> list[tuple[int, int]]:
        """Active spans ``(i, j)`` in window-index space."""
        return list(self._fitted()[0])

    def predict(self) -> list[Segment]:
        """Active segments in seconds, label ``"active"`` (gaps are idle; see
        ``segfile.fill_gaps``)."""
        spans, times = self._fitted()
        return [span_to_segment(s, times, self.end_sec_, ACTIVE_LABEL) for s in spans]
