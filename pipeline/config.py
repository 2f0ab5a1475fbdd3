"""Typed configuration shared by every stage, the CLI and the Dagster assets.

One convention, one code path: training and inference read the same ``WindowConfig`` and
``VideoConfig`` (docs/method.md, "Traps in the reference code").
"""

from __future__ import annotations

import hashlib
import json
from typing import ClassVar

from pydantic import Field, model_validator

from models.config import FrozenConfig

__all__ = ["FrozenConfig", "VideoConfig", "WindowConfig"]


class VideoConfig(FrozenConfig):
    """How raw video is normalized before tracking (docs/method.md stage 1)."""

    target_fps: float = Field(10.0, gt=0, description="frames per second kept after sampling")
    short_side: int = Field(320, ge=32, description="short side of normalized frames, pixels")
    chunk_seconds: float = Field(600.0, gt=0, description="length of one processing chunk")
    # Limits (docs/formats.md, "Video limits"): a video beyond one is quarantined at ingest
    # (``resolution_too_large``, ``resolution_too_small``, ``too_long``, ``file_too_large``,
    # ``frame_rate_too_high``). They decide what is admitted, not how it is normalized, so they are
    # left out of the fingerprint (changing one never invalidates stored tracks).
    max_side: int = Field(8192, ge=16, description="longest displayed side, px")
    max_pixels: int = Field(8192 * 4320, ge=256, description="displayed width x height (8K)")
    min_short_side: int = Field(16, ge=2, description="shortest displayed side, px")
    max_duration_sec: float = Field(12 * 3600.0, gt=0, description="longest video, s (12 h)")
    max_file_gb: float = Field(50.0, gt=0, description="largest file, GB (10^9 bytes)")
    max_fps: float = Field(1000.0, gt=0, description="highest source frame rate")

    LIMIT_FIELDS: ClassVar[tuple[str, ...]] = (
        "max_side", "max_pixels", "min_short_side", "max_duration_sec", "max_file_gb", "max_fps",
    )  # fmt: skip

    def fingerprint(self) -> str:
        """Hash of the normalization fields only (the limits do not change any frame)."""
        blob = json.dumps(self.model_dump(mode="json", exclude=set(self.LIMIT_FIELDS)),
                          sort_keys=True).encode()  # fmt: skip
        return hashlib.sha256(blob).hexdigest()[:12]


class WindowConfig(FrozenConfig):
    """Tracking windows (docs/method.md stage 2): T frames, stride, an S x S grid of points."""

    window_frames: int = Field(16, ge=2, description="T, frames per window at target fps")
    stride_frames: int = Field(4, ge=1, description="frames between window starts")
    grid_size: int = Field(20, ge=2, description="points per axis; N = grid_size**2")

    @model_validator(mode="after")
    def _stride_fits(self) -> WindowConfig:
        if self.stride_frames > self.window_frames:
            raise ValueError(
                f"stride_frames={self.stride_frames} exceeds window_frames={self.window_frames}: "
                "frames between windows would never be tracked"
            )
        return self

    @property
    def num_points(self) -> int:
        return self.grid_size * self.grid_size

    @property
    def steps(self) -> int:
        """Velocity steps per window (T - 1)."""
        return self.window_frames - 1
