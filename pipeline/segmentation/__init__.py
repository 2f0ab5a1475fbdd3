"""Segmentation of a station's videos from stored windows and codes (pure numpy, no I/O).

``SegmentationConfig`` (config), per-video signals rebuilt from the tables (signals), label-free
calibration and the segmenters run per station (run). The partition stage that reads and writes
the store is ``pipeline.segment_stage``.
"""

from pipeline.segmentation.config import FEATURES, SegmentationConfig
from pipeline.segmentation.run import (
    FrameSegment,
    StationResult,
    VideoResult,
    segment_station,
    to_frames,
)
from pipeline.segmentation.signals import (
    SignalError,
    VideoSignals,
    build_signals,
    codes_to_latents,
)

__all__ = [
    "FEATURES",
    "FrameSegment",
    "SegmentationConfig",
    "SignalError",
    "StationResult",
    "VideoResult",
    "VideoSignals",
    "build_signals",
    "codes_to_latents",
    "segment_station",
    "to_frames",
]
