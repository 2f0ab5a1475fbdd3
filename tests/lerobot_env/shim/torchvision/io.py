"""``io.VideoReader`` exists so attribute lookups resolve; constructing one refuses."""

from __future__ import annotations

from typing import Any

__all__ = ["VideoReader"]


class VideoReader:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(
            "torchvision stand-in: io.VideoReader is unavailable; "
            "use video_backend='torchcodec' (LeRobotDataset's default)"
        )
