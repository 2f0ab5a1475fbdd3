"""Segmenters with a ruptures-like API: keyword-only parameters, ``fit(signal, times)``,
``predict()`` -> segments in seconds (and index-space variants). Pure numpy/ruptures."""

from pipeline.errors import NotFittedError, SegmenterError
from pipeline.segments.segmenters.base import (
    ACTIVE_LABEL,
    UNCALIBRATED_LABEL,
    bkps_to_spans,
    span_to_segment,
)
from pipeline.segments.segmenters.changepoint import (
    ChangePointParams,
    ChangePointSegmenter,
    robust_standardize,
)
from pipeline.segments.segmenters.combined import CombinedSegmenter, split_at
from pipeline.segments.segmenters.hysteresis import (
    HysteresisParams,
    HysteresisSegmenter,
    hysteresis_spans,
)

__all__ = [
    "ACTIVE_LABEL",
    "UNCALIBRATED_LABEL",
    "ChangePointParams",
    "ChangePointSegmenter",
    "CombinedSegmenter",
    "HysteresisParams",
    "HysteresisSegmenter",
    "NotFittedError",
    "SegmenterError",
    "bkps_to_spans",
    "hysteresis_spans",
    "robust_standardize",
    "span_to_segment",
    "split_at",
]
