"""Keyframes of a clip: a few evenly spaced RGB frames, small enough to embed and to show.

``keyframes`` decodes a clip (the bytes the segments stage stored, or a file) with PyAV and keeps
``n`` frames at ``(i + 0.5) / n`` of its length, the middle of ``n`` equal parts, so the first
and last frames (often a cut's transition) are never picked. Frames are counted in decode
order: clips have a constant frame rate and exactly ``end_frame - start_frame`` frames
(docs/formats.md "Clips"). Images come out upright (a display matrix is applied, as
``pipeline.io.video`` does) and no larger than ``max_side`` on their longer side (area
averaging when shrinking; never enlarged). ``jpeg_bytes`` and ``strip`` make the gallery's
images.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import av
import cv2
import numpy as np

from pipeline.errors import ConfigError, KeyframeError
from pipeline.io.video import _display_turns


def keyframes(clip: bytes | Path, n: int, *, max_side: int = 448) -> list[np.ndarray]:
    """``n`` RGB uint8 (H, W, 3) frames evenly spaced inside ``clip``; fewer when the clip has
    fewer than ``n`` frames. Raises ``KeyframeError`` (with a reason) for a clip that cannot be
    decoded or holds no frame."""
    if n < 1:
        raise ConfigError(f"keyframes: n must be at least 1, got {n}")
    if max_side < 1:
        raise ConfigError(f"keyframes: max_side must be at least 1, got {max_side}")
    source = _source(clip)
    total = _frame_count(clip, source)
    wanted = sorted({(2 * i + 1) * total // (2 * n) for i in range(n)})  # floor((i + .5) total / n)
    return _decode(clip, source, wanted, max_side)


def _source(clip: bytes | Path) -> str:
    if isinstance(clip, bytes | bytearray | memoryview):
        return f"<clip of {len(clip)} bytes>"
    return str(clip)


def _open(clip: bytes | Path, source: str) -> av.container.InputContainer:
    try:
        if isinstance(clip, bytes | bytearray | memoryview):
            return av.open(io.BytesIO(bytes(clip)), mode="r")
        return av.open(str(clip), mode="r")
    except (av.FFmpegError, OSError) as err:  # av.FFmpegError: not a container PyAV can read
        raise KeyframeError(source, "unreadable", str(err)) from err


def _video_stream(container: av.container.InputContainer, source: str):
    if not container.streams.video:
        raise KeyframeError(source, "no_video_stream")
    stream = container.streams.video[0]
    stream.codec_context.thread_count = 1  # reproducible, and the caller parallelises clips
    return stream


def _frame_count(clip: bytes | Path, source: str) -> int:
    """The container's frame count (MP4 stores it), else the video packets counted by
    demuxing (no decoding)."""
    with _open(clip, source) as container:
        stream = _video_stream(container, source)
        if stream.frames > 0:
            return int(stream.frames)
        try:
            count = sum(1 for p in container.demux(stream) if p.size > 0)
        except av.FFmpegError as err:
            raise KeyframeError(source, "undecodable", str(err)) from err
    if count == 0:
        raise KeyframeError(source, "no_frames")
    return count


def _decode(clip: bytes | Path, source: str, wanted: list[int], max_side: int) -> list[np.ndarray]:
    out: list[np.ndarray] = []
    todo = iter(wanted)
    target = next(todo)
    with _open(clip, source) as container:
        stream = _video_stream(container, source)
        try:
            for index, frame in enumerate(container.decode(stream)):
                if index < target:
                    continue
                out.append(_image(frame, max_side))
                target = next(todo, None)
                if target is None:
                    break
        except av.FFmpegError as err:
            raise KeyframeError(source, "undecodable", str(err)) from err
    if not out:
        raise KeyframeError(source, "no_frames", "the decoder gave no frame")
    return out


def _image(frame: av.VideoFrame, max_side: int) -> np.ndarray:
    """The displayed picture as RGB, shrunk so its longer side is at most ``max_side``."""
    turns = _display_turns(frame)
    w, h = frame.width, frame.height  # the stored picture; a quarter turn swaps the sides
    scale = min(1.0, max_side / max(w, h))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    shrink = scale < 1.0
    img = frame.reformat(
        width=size[0], height=size[1], format="rgb24", interpolation="AREA" if shrink else None
    ).to_ndarray()
    if turns:
        img = np.rot90(img, turns)
    return np.ascontiguousarray(img)


def _check_rgb(img: np.ndarray, what: str) -> None:
    if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3:
        shown = getattr(img, "shape", type(img).__name__), getattr(img, "dtype", None)
        raise KeyframeError(what, "bad_image", f"want RGB uint8 (H, W, 3), got {shown}")
    if img.shape[2] != 3 or img.shape[0] < 1 or img.shape[1] < 1:
        raise KeyframeError(what, "bad_image", f"want RGB uint8 (H, W, 3), got {img.shape}")


def jpeg_bytes(img: np.ndarray, quality: int = 85) -> bytes:
    """JPEG of an RGB uint8 image (OpenCV writes BGR, so the channels are swapped first)."""
    _check_rgb(img, "jpeg_bytes")
    if not 1 <= quality <= 100:
        raise ConfigError(f"jpeg_bytes: quality must be in 1..100, got {quality}")
    bgr = cv2.cvtColor(np.ascontiguousarray(img), cv2.COLOR_RGB2BGR)
    ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise KeyframeError("jpeg_bytes", "encode_failed", f"image of shape {img.shape}")
    return buf.tobytes()


def strip(images: Sequence[np.ndarray], height: int = 96) -> np.ndarray:
    """The images side by side, each scaled to ``height`` rows (aspect kept): RGB uint8."""
    if height < 1:
        raise ConfigError(f"strip: height must be at least 1, got {height}")
    if len(images) == 0:
        raise KeyframeError("strip", "no_images", "a strip needs at least one image")
    parts = []
    for img in images:
        _check_rgb(img, "strip")
        h, w = img.shape[:2]
        width = max(1, round(w * height / h))
        interp = cv2.INTER_AREA if height < h else cv2.INTER_LINEAR
        parts.append(cv2.resize(np.ascontiguousarray(img), (width, height), interpolation=interp))
    return np.ascontiguousarray(np.hstack(parts))
