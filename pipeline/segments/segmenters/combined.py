"""Energy gating + change points inside active spans.

1. The hysteresis segmenter on the per-window energy decides what is active and what is idle.
2. The change-point segmenter runs once on the whole per-step sequence (so its label-free rule
   sees the whole video). A change point within ``edge_sec`` of an active span's edge replaces
   that edge (change points on per-step features are placed more precisely than the smoothed,
   debounced gate); change points farther inside split the span: back-to-back primitives change
   the latent pattern without any drop in energy (docs/method.md, measured lessons). Change points
   in idle spans are dropped.
3. The result is a contiguous segmentation of ``[0, end_sec]``: idle fillers labelled ``"idle"``
   and the active pieces labelled ``"active"``. A snapped edge never crosses the previous active
   span's end.
"""

from __future__ import annotations

import logging

import numpy as np

from pipeline.errors import NotFittedError, SegmenterError
from pipeline.segments.segfile import Segment, fill_gaps
from pipeline.segments.segmenters.changepoint import ChangePointSegmenter
from pipeline.segments.segmenters.hysteresis import HysteresisSegmenter

log = logging.getLogger(__name__)


def _nearest(cuts: np.ndarray, at: float, radius: float) -> float:
    near = cuts[np.abs(cuts - at) <= radius]
    return float(near[np.argmin(np.abs(near - at))]) if near.size else at


def split_at(segment: Segment, cuts: np.ndarray, *, edge_sec: float) -> list[Segment]:
    """Snap ``segment``'s edges to the nearest cut within ``edge_sec`` and split it at the cuts
    lying farther inside. Returns the pieces in time order (same label)."""
    start = _nearest(cuts, segment.start_sec, edge_sec)
    end = _nearest(cuts, segment.end_sec, edge_sec)
    inside = cuts[(cuts > segment.start_sec + edge_sec) & (cuts < segment.end_sec - edge_sec)]
    edges = [start, *np.unique(inside).tolist(), end]
    return [
        Segment(a, b, segment.label) for a, b in zip(edges[:-1], edges[1:], strict=True) if b > a
    ]


class CombinedSegmenter:
    """``fit(energy, energy_times, features, feature_times, end_sec=...)`` then ``predict()``.

    energy: (W,) per-window energy at ``energy_times`` (window centres, s); features: (S, d)
    per-step sequence at ``feature_times`` (step starts, s). Both cover the same video.
    """

    def __init__(
        self,
        *,
        gate: HysteresisSegmenter,
        changepoints: ChangePointSegmenter,
        edge_sec: float = 1.0,
    ) -> None:
        if edge_sec < 0:
            raise SegmenterError(f"edge_sec must be >= 0, got {edge_sec}")
        self.gate = gate
        self.changepoints = changepoints
        self.edge_sec = edge_sec
        self.segments_: list[Segment] | None = None

    def fit(
        self,
        energy: np.ndarray,
        energy_times: np.ndarray,
        features: np.ndarray,
        feature_times: np.ndarray,
        *,
        end_sec: float,
    ) -> CombinedSegmenter:
        """Gate on the energy, find change points on the features, merge (see module doc)."""
        if end_sec <= 0:
            raise SegmenterError(f"end_sec must be > 0, got {end_sec}")
        active = self.gate.fit(energy, energy_times, end_sec=end_sec).predict()
        cuts = self.changepoints.fit(features, feature_times, end_sec=end_sec).change_times()
        pieces: list[Segment] = []
        for seg in active:
            for piece in split_at(seg, cuts, edge_sec=self.edge_sec):
                floor = pieces[-1].end_sec if pieces else 0.0
                if piece.end_sec > floor:
                    pieces.append(Segment(max(piece.start_sec, floor), piece.end_sec, piece.label))
        out = fill_gaps(pieces, duration_sec=end_sec)
        self.segments_ = out
        log.debug(
            "combined: %d active spans, %d change points, %d segments",
            len(active),
            cuts.size,
            len(out),
        )
        return self

    def predict(self) -> list[Segment]:
        """Contiguous segments of ``[0, end_sec]`` labelled ``"active"`` / ``"idle"``."""
        if self.segments_ is None:
            raise NotFittedError("CombinedSegmenter.predict called before fit")
        return list(self.segments_)
