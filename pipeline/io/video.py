"""Video I/O: hashing, sampling, a streaming, timestamp-exact normalizing decoder and the clip
encoder; probing and limits are in ``pipeline.io.probe`` (re-exported here).

Conventions (docs/method.md stage 1, docs/formats.md "Time" and "Video as players show it"):
- a frame's time is ``source_frame_index / source_fps``; every later record carries *source*
  frame indexes, never counters of kept frames. The source frames form a grid at the source's
  nominal rate (``nominal_rate``); each decoded frame sits at the grid slot nearest its
  timestamp, and a slot no frame falls on (variable frame rate, dropped frames) shows the frame
  before it, as a player does;
- sampling to the target rate keeps source frame ``round(k * source_fps / target_fps)`` for
  k = 0, 1, 2, ... (a true rate, not "every n-th frame");
- frames come out as a player displays them: the container's display rotation is applied, and
  widths and heights (``VideoProbe``, ``size=``) are the displayed ones;
- decoding streams: memory stays bounded whatever the video length; a frame is converted only
  when kept, straight to the requested size and pixel format (one swscale step).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from pipeline.errors import VideoError
from pipeline.io.probe import (
    SUPPORTED_CODECS,
    VideoProbe,
    _display_turns,
    _grid_length,
    _shown,
    check_limits,
    count_frames,
    nominal_rate,
    probe_video,
)

# probing lives in pipeline.io.probe; its public names stay importable from here
__all__ = [
    "SUPPORTED_CODECS", "FRAME_SAMPLING_VERSION", "Frame", "VideoProbe", "check_limits",
    "count_frames", "encode_frames", "iter_frames", "iter_video_frames", "nominal_rate",
    "normalized_size", "probe_video", "sample_indices", "sample_step", "sha256_file",
    "source_index",
]  # fmt: skip

log = logging.getLogger(__name__)
_T = TypeVar("_T")


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


def sample_step(source_fps: float, target_fps: float) -> float:
    """Source frames per kept frame; never below 1 (a source slower than the target keeps
    every frame: no frame is invented)."""
    return max(1.0, source_fps / target_fps)


def source_index(k: int, source_fps: float, target_fps: float) -> int:
    """Source frame index of the k-th kept (normalized) frame: ``floor(k * step + 0.5)``. The
    one sampling rule: the decoder, the chunk planner and the step timelines all use it."""
    return int(math.floor(k * sample_step(source_fps, target_fps) + 0.5))


# Which source frames ``sample_indices`` keeps; part of the tracks' fingerprint. 2: a range no
# longer loses a first frame that rounds up onto its start (25 or 29.97 fps sources), so tracks
# stored by version 1 from such sources are recomputed.
FRAME_SAMPLING_VERSION = 2


def sample_indices(source_fps: float, target_fps: float, start: int, stop: int) -> Iterator[int]:
    """Source frame indexes kept when sampling [start, stop) to ``target_fps``.

    The k-th kept frame of the whole video is ``round(k * source_fps / target_fps)``; a chunk that
    starts at ``start`` keeps exactly the frames the whole video would keep in its range.
    """
    step = sample_step(source_fps, target_fps)
    # the first k with floor(k * step + 0.5) >= start (k = ceil(start / step) skipped a frame
    # that rounds up onto ``start``: e.g. 29.97 -> 10 fps, start 30 = source_index(10))
    k = max(0, math.ceil((start - 0.5) / step - 1e-9))
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

    Frames are indexed on the source-frame grid (``source_fps``, default ``nominal_rate``) by
    timestamp: a decoded frame takes the slot nearest its time, a second frame in a taken slot is
    dropped, and a slot without a frame of its own repeats the frame shown before it (variable
    frame rate, dropped frames), up to the stream's end; both are logged once per call. Images
    are as displayed: the display rotation is applied, and ``size`` = (w, h) is the displayed
    size (it overrides ``short_side``; e.g. to decode straight to a tracker's flow grid). Only
    kept frames are converted (swscale resize + pixel format in one step; downscaling uses area
    averaging), then turned. Single-threaded decode unless the caller asks for
    ``decode_threads`` > 1 (0 = FFmpeg's choice), so results and speed are reproducible.
    """
    return _slots(
        path,
        _Converter(size, short_side, "gray" if gray else "rgb24"),
        target_fps=target_fps,
        start_frame=start_frame,
        end_frame=end_frame,
        source_fps=source_fps,
        decode_threads=decode_threads,
    )


def iter_video_frames(
    path: str | Path,
    *,
    size: tuple[int, int],
    target_fps: float,
    start_frame: int = 0,
    end_frame: int | None = None,
    source_fps: float | None = None,
    decode_threads: int = 1,
    interpolation: str = "AREA",
) -> Iterator[tuple[int, av.VideoFrame]]:
    """``(source index, frame)`` for ``encode_frames``: the frames ``iter_frames`` picks (the same
    slots, held and dropped frames alike), as ``av.VideoFrame`` objects at the displayed size
    ``size`` = (w, h), cropped to even sides.

    An upright source scaled to an even size takes one swscale step straight to ``yuv420p`` (the
    encoder's format: no RGB and no numpy round trip; ``interpolation`` when shrinking). A turned
    source or an odd size takes ``iter_frames``'s RGB path (area averaging, ``np.rot90``, the
    crop) and the encoder converts it.
    """
    return _slots(
        path,
        _VideoFrameConverter(size, interpolation),
        target_fps=target_fps,
        start_frame=start_frame,
        end_frame=end_frame,
        source_fps=source_fps,
        decode_threads=decode_threads,
    )


def _slots(
    path: str | Path,
    convert: Callable[[av.VideoFrame, int, float], _T],
    *,
    target_fps: float,
    start_frame: int,
    end_frame: int | None,
    source_fps: float | None,
    decode_threads: int,
) -> Iterator[_T]:
    """The decode loop of ``iter_frames``: ``convert(frame, slot, fps)`` of each kept slot."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.codec_context.thread_count = decode_threads
        fps = source_fps or float(nominal_rate(stream) or 0)
        if fps <= 0:
            raise VideoError(path, "bad_frame_rate", str(fps))
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
        end_slot = _grid_length(container, stream, fps)[0]  # with last + 1: probe's frame_count
        timing = _Timing()
        prev: av.VideoFrame | None = None  # the frame shown in the latest slot taken so far
        last = -1
        try:
            for frame in container.decode(stream):
                if frame.pts is not None and tb is not None:
                    idx = int(math.floor((frame.pts - start_pts) * tb * fps + 0.5))
                else:
                    idx = last + 1
                if idx <= last:  # its slot is taken (or it is out of order): never shown
                    if start_frame <= idx < stop:
                        timing.dropped += 1
                    continue
                while next_idx is not None and next_idx < idx:  # slots with no frame of their own
                    timing.held += 1
                    yield convert(prev if prev is not None else frame, next_idx, fps)
                    next_idx = next(wanted, None)
                if next_idx is None:
                    return
                prev, last = frame, idx
                if idx == next_idx:
                    yield convert(frame, idx, fps)
                    next_idx = next(wanted, None)
                    if next_idx is None:
                        return
            # the last frame stays on screen until the stream ends
            while prev is not None and next_idx is not None and next_idx < max(end_slot, last + 1):
                timing.held += 1
                yield convert(prev, next_idx, fps)
                next_idx = next(wanted, None)
        finally:
            timing.report(path, fps)


class _Converter:
    """Converts a decoded frame to the displayed, normalized image (sizes fixed by the first)."""

    def __init__(self, size: tuple[int, int] | None, short_side: int, fmt: str) -> None:
        self._size, self._short, self._fmt = size, short_side, fmt
        self._turns: int | None = None
        # one swscale context for the whole decode (frame.reformat builds one per frame:
        # measured, that was half the cost of scaling; the pixels are the same)
        self._scaler = VideoReformatter()

    def __call__(self, frame: av.VideoFrame, index: int, fps: float) -> Frame:
        if self._turns is None:
            self._turns = _display_turns(frame)
            shown = (frame.height, frame.width) if self._turns % 2 else (frame.width, frame.height)
            w, h = self._size or normalized_size(shown[0], shown[1], self._short)
            # swscale works on the stored picture: its size is the displayed one, turned back
            self._w, self._h = (h, w) if self._turns % 2 else (w, h)
            shrink = self._w < frame.width and self._h < frame.height
            self._interp = "AREA" if shrink else None
        img = self._scaler.reformat(
            frame, width=self._w, height=self._h, format=self._fmt, interpolation=self._interp
        ).to_ndarray()
        if self._turns:
            img = np.rot90(img, self._turns)
        # rows may be padded to the plane's line size; a turned image is a strided view
        return Frame(index=index, t_sec=index / fps, image=np.ascontiguousarray(img))


class _VideoFrameConverter:
    """Converts a decoded frame to an encoder-ready ``(index, av.VideoFrame)`` at the displayed
    size, cropped to even sides (``iter_video_frames``; the path is fixed by the first frame)."""

    def __init__(self, size: tuple[int, int], interpolation: str) -> None:
        w, h = size
        self._size, self._even = size, (w - w % 2, h - h % 2)
        self._interpolation = interpolation
        self._rgb: _Converter | None = None  # the RGB path, for a turned or cropped source
        self._interp: str | None = None
        self._ready = False
        self._scaler = VideoReformatter()

    def __call__(self, frame: av.VideoFrame, index: int, fps: float) -> tuple[int, av.VideoFrame]:
        w, h = self._even
        if not self._ready:  # the first frame fixes the path
            if _display_turns(frame) or self._size != self._even:
                self._rgb = _Converter(self._size, 0, "rgb24")
            shrink = w < frame.width and h < frame.height
            self._interp = self._interpolation if shrink else None
            self._ready = True
        if self._rgb is None:
            return index, self._scaler.reformat(
                frame, width=w, height=h, format="yuv420p", interpolation=self._interp
            )
        img = self._rgb(frame, index, fps).image[:h, :w]
        return index, av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")


@dataclass
class _Timing:
    """Grid slots repeated from an earlier frame and source frames dropped in one decode."""

    held: int = 0
    dropped: int = 0

    def report(self, path: str | Path, fps: float) -> None:
        if self.dropped:
            log.warning(
                "%s: %d source frame(s) dropped (two in one 1/%.3f s slot), %d slot(s) repeat "
                "the frame before (no frame at their time)",
                _shown(path), self.dropped, fps, self.held,
            )  # fmt: skip
        elif self.held:
            log.info(
                "%s: %d slot(s) at %.3f fps repeat the frame before (no frame at their time)",
                _shown(path), self.held, fps,
            )  # fmt: skip


def encode_frames(
    frames: Iterable[np.ndarray | av.VideoFrame],
    out_path: str | Path,
    *,
    fps: float,
    crf: int = 23,
    preset: str = "veryfast",
    threads: int | None = None,
) -> int:
    """Encode frames to H.264 yuv420p at a constant ``fps``; returns frames written.

    A frame is an RGB uint8 array or an ``av.VideoFrame`` (``iter_video_frames``; a yuv420p one
    goes to x264 as it is, another format is converted by the encoder); all of one size, even.
    ``threads``: x264 threads (0 = libx264's choice; ``None`` leaves FFmpeg's default, which is
    libx264's choice too). The caller writes to a temporary path and renames it (writes are
    atomic).
    """
    rate = Fraction(fps).limit_denominator(1001)
    n = 0
    with av.open(str(out_path), mode="w") as container:
        stream = container.add_stream("libx264", rate=rate)
        stream.pix_fmt = "yuv420p"
        # mbtree off: with it this libx264 build gives different bits for identical input
        # from run to run (measured); reproducible outputs matter more than ~few % bitrate.
        stream.options = {"crf": str(crf), "preset": preset, "x264-params": "mbtree=0"}
        time_base = Fraction(1, 1) / rate
        stream.codec_context.time_base = time_base
        if threads is not None:
            stream.codec_context.thread_count = threads
        for img in frames:
            if isinstance(img, av.VideoFrame):
                vf = img
            else:
                vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            if n == 0:
                w, h = vf.width, vf.height
                if w % 2 or h % 2:
                    raise ValueError(f"H.264 yuv420p needs even dimensions, got {w}x{h}")
                stream.width, stream.height = w, h
            vf.pts, vf.time_base = n, time_base
            for packet in stream.encode(vf):
                container.mux(packet)
            n += 1
        for packet in stream.encode():
            container.mux(packet)
    return n
