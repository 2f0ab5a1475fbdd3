"""Video I/O: probing, hashing and a streaming, timestamp-exact normalizing decoder.

Conventions (docs/method.md stage 1, docs/formats.md):
- a frame's time is ``source_frame_index / source_fps``; every later record carries *source*
  frame indexes, never counters of kept frames;
- sampling to the target rate keeps source frame ``round(k * source_fps / target_fps)`` for
  k = 0, 1, 2, ... (a true rate, not "every n-th frame");
- decoding streams: memory stays bounded whatever the video length.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from pipeline.errors import VideoError

log = logging.getLogger(__name__)

SUPPORTED_CODECS = frozenset(
    {"h264", "hevc", "mpeg4", "vp8", "vp9", "av1", "mjpeg", "mpeg2video", "prores", "rawvideo"}
)


@dataclass(frozen=True)
class VideoProbe:
    """What the container says about a video, checked by decoding its first frame."""

    path: str
    duration_sec: float
    fps: float
    width: int
    height: int
    codec: str
    rotation: int
    frame_count: int
    size_bytes: int


@dataclass(frozen=True)
class Frame:
    """One normalized frame. ``index`` is the source frame index, ``t_sec = index / fps``."""

    index: int
    t_sec: float
    image: np.ndarray  # uint8, (H, W) gray or (H, W, 3) RGB


def sha256_file(path: str | Path, chunk_bytes: int = 1 << 20) -> str:
    """Hex sha256 of a file's bytes (the ``video_id``)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk_bytes):
            h.update(block)
    return h.hexdigest()


def normalized_size(width: int, height: int, short_side: int) -> tuple[int, int]:
    """(w, h) scaled so the short side equals ``short_side``; both even (H.264 friendly)."""
    if width <= 0 or height <= 0:
        raise ValueError(f"invalid frame size {width}x{height}")
    scale = short_side / min(width, height)
    w = max(2, int(round(width * scale / 2)) * 2)
    h = max(2, int(round(height * scale / 2)) * 2)
    return w, h


def _rotation(stream: av.video.stream.VideoStream) -> int:
    """Display rotation in degrees from stream metadata or side data (0 if none)."""
    rot = stream.metadata.get("rotate") if stream.metadata else None
    if rot is not None:
        try:
            return int(float(rot)) % 360
        except ValueError:
            log.warning("ignoring unparsable rotate tag %r", rot)
    return 0


def probe_video(path: str | Path) -> VideoProbe:
    """Probe a video with PyAV and decode one frame to prove it is readable.

    Raises ``VideoError`` with reason ``unreadable``, ``no_video_stream``, ``unsupported_codec``,
    ``no_frames`` or ``bad_frame_rate``.
    """
    path = Path(path)
    size = path.stat().st_size
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise VideoError(path, "unreadable", str(exc)) from exc
    with container:
        if not container.streams.video:
            raise VideoError(path, "no_video_stream")
        stream = container.streams.video[0]
        codec = stream.codec_context.name
        if codec not in SUPPORTED_CODECS:
            raise VideoError(path, "unsupported_codec", codec)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate or float(rate) <= 0:
            raise VideoError(path, "bad_frame_rate", str(rate))
        fps = float(rate)
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise VideoError(path, "unreadable", str(exc)) from exc
        if first is None:
            raise VideoError(path, "no_frames")
        width, height = first.width, first.height
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = container.duration / av.time_base
        else:
            duration = 0.0
        frames = stream.frames or int(round(duration * fps))
        if frames <= 0:
            raise VideoError(path, "no_frames")
        return VideoProbe(
            path=str(path),
            duration_sec=frames / fps,
            fps=fps,
            width=width,
            height=height,
            codec=codec,
            rotation=_rotation(stream),
            frame_count=frames,
            size_bytes=size,
        )


def count_frames(path: str | Path) -> int:
    """Exact frame count by demuxing packets (no decoding)."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for p in container.demux(stream) if p.size > 0)


def sample_step(source_fps: float, target_fps: float) -> float:
    """Source frames per kept frame; never below 1 (a source slower than the target keeps
    every frame: no frame is invented)."""
    return max(1.0, source_fps / target_fps)


def source_index(k: int, source_fps: float, target_fps: float) -> int:
    """Source frame index of the k-th kept (normalized) frame: ``floor(k * step + 0.5)``. The
    one sampling rule: the decoder, the chunk planner and the step timelines all use it."""
    return int(math.floor(k * sample_step(source_fps, target_fps) + 0.5))


def sample_indices(source_fps: float, target_fps: float, start: int, stop: int) -> Iterator[int]:
    """Source frame indexes kept when sampling [start, stop) to ``target_fps``.

    The k-th kept frame of the whole video is ``round(k * source_fps / target_fps)``; a chunk that
    starts at ``start`` keeps exactly the frames the whole video would keep in its range.
    """
    step = sample_step(source_fps, target_fps)
    k = math.ceil(start / step - 1e-9)
    while True:
        idx = source_index(k, source_fps, target_fps)
        if idx >= stop:
            return
        if idx >= start:
            yield idx
        k += 1


def iter_frames(
    path: str | Path,
    *,
    target_fps: float = 10.0,
    short_side: int = 320,
    start_frame: int = 0,
    end_frame: int | None = None,
    gray: bool = True,
    source_fps: float | None = None,
    decode_threads: int = 1,
    size: tuple[int, int] | None = None,
) -> Iterator[Frame]:
    """Stream normalized frames of ``[start_frame, end_frame)`` sampled to ``target_fps``.

    Frames are indexed by presentation order in the source; only kept frames are converted
    (swscale resize + pixel format in one step). Single-threaded decode unless the caller
    asks for ``decode_threads`` > 1 (0 = FFmpeg's choice), so results and speed are reproducible.
    ``size`` = (w, h) overrides ``short_side`` (e.g. to decode straight to a tracker's flow grid);
    downscaling uses area averaging.
    """
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = decode_threads
        fps = source_fps or float(stream.average_rate or stream.guessed_rate)
        stop = end_frame if end_frame is not None else 2**62
        wanted = sample_indices(fps, target_fps, start_frame, stop)
        next_idx = next(wanted, None)
        if next_idx is None:
            return
        # Index frames by timestamp relative to the stream's start (counting only when a frame
        # has no pts), so the whole video and a chunk read after a seek agree.
        tb = float(stream.time_base) if stream.time_base is not None else None
        start_pts = stream.start_time or 0
        if start_frame > 0 and tb is not None:
            # Seek to the keyframe before the chunk, then skip frames by timestamp.
            target_pts = start_pts + int(start_frame / fps / tb)
            container.seek(target_pts, stream=stream, backward=True, any_frame=False)
        fmt = "gray" if gray else "rgb24"
        out_w = out_h = None
        counter = None
        for frame in container.decode(stream):
            if frame.pts is not None and tb is not None:
                idx = int(math.floor((frame.pts - start_pts) * tb * fps + 0.5))
            else:
                idx = 0 if counter is None else counter + 1
            counter = idx
            if idx < next_idx:
                continue
            if out_w is None:
                out_w, out_h = size or normalized_size(frame.width, frame.height, short_side)
                shrink = out_w < frame.width and out_h < frame.height
                interp = "AREA" if shrink else None
            while next_idx is not None and next_idx < idx:
                log.warning("%s: source frame %d missing from the stream", path, next_idx)
                next_idx = next(wanted, None)
            if next_idx is None:
                return
            if idx == next_idx:
                img = np.ascontiguousarray(  # rows may be padded to the plane's line size
                    frame.reformat(
                        width=out_w, height=out_h, format=fmt, interpolation=interp
                    ).to_ndarray()
                )
                yield Frame(index=idx, t_sec=idx / fps, image=img)
                next_idx = next(wanted, None)
                if next_idx is None:
                    return


def encode_frames(
    frames: Iterator[np.ndarray],
    out_path: str | Path,
    *,
    fps: float,
    crf: int = 23,
    preset: str = "veryfast",
) -> int:
    """Encode RGB uint8 frames to H.264 yuv420p at a constant ``fps``; returns frames written.

    The caller writes to a temporary path and renames it (writes are atomic).
    """
    rate = Fraction(fps).limit_denominator(1001)
    n = 0
    with av.open(str(out_path), mode="w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.pix_fmt = "yuv420p"
        # mbtree off: with it this libx264 build gives different bits for identical input
        # from run to run (measured); reproducible outputs matter more than ~few % bitrate.
        stream.options = {"crf": str(crf), "preset": preset, "x264-params": "mbtree=0"}
        stream.codec_context.time_base = Fraction(1, 1) / rate
        for img in frames:
            if n == 0:
                h, w = img.shape[:2]
                if w % 2 or h % 2:
                    raise ValueError(f"H.264 yuv420p needs even dimensions, got {w}x{h}")
                stream.width, stream.height = w, h
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            vf.pts = n
            for packet in stream.encode(vf):
                container.mux(packet)
            n += 1
        for packet in stream.encode():
            container.mux(packet)
    return n
