"""Keyframes as the JPEG bytes a ``LabelRequest`` carries."""

from __future__ import annotations

import numpy as np

from pipeline.errors import LanguageError


def encode_jpeg(frame: np.ndarray, max_side: int = 448, quality: int = 85) -> bytes:
    """An RGB (H, W, 3) or gray (H, W) uint8 frame as JPEG bytes, scaled down (area
    interpolation) so that its longest side is at most ``max_side``; never scaled up."""
    import cv2

    if frame.dtype != np.uint8 or frame.ndim not in (2, 3) or (
        frame.ndim == 3 and frame.shape[2] != 3
    ):  # fmt: skip
        raise LanguageError(f"keyframe must be uint8 (H, W) or (H, W, 3), got {frame.dtype} "
                            f"{frame.shape}")  # fmt: skip
    h, w = frame.shape[:2]
    if h < 1 or w < 1:
        raise LanguageError(f"keyframe is empty: {frame.shape}")
    scale = min(1.0, max_side / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        frame = cv2.resize(frame, size, interpolation=cv2.INTER_AREA)
    bgr = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise LanguageError(f"could not encode a {frame.shape} keyframe as JPEG")
    return buf.tobytes()
