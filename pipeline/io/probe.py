"""Probing a video: what its container says, checked by decoding its first frame, and the
documented limits (``VideoConfig``) a landed video must meet (docs/formats.md "Video as players
show it"). The display rotation, the nominal rate and the source-frame grid are worked out here
and shared with the decoder in ``pipeline.io.video``, which re-exports every public name.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from pipeline.config import VideoConfig
from pipeline.errors import VideoError

log = logging.getLogger("pipeline.io.video")  # the name its log lines always had

SUPPORTED_CODECS = frozenset(
    {"h264", "hevc", "mpeg4", "vp8", "vp9", "av1", "mjpeg", "mpeg2video", "prores", "rawvideo"}
)


@dataclass(frozen=True)
class VideoProbe:
    """What the container says about a video, checked by decoding its first frame.

    ``width`` x ``height`` is the displayed size (after ``rotation``); ``rotation`` is the
    clockwise turn, 0/90/180/270, a player gives the stored picture (the classic ``rotate`` tag;
    ffprobe's "rotation of -90.00 degrees" is 90 here). ``fps`` is the nominal rate of the
    source-frame grid and ``frame_count`` the grid's length (``duration_sec * fps``); on variable
    frame rate input (``variable_rate``) the stream holds fewer real frames than grid slots.
    """

    path: str
    duration_sec: float
    fps: float
    width: int
    height: int
    codec: str
    rotation: int
    frame_count: int
    size_bytes: int
    variable_rate: bool = False


def _shown(path: str | Path) -> str:
    """A path as printable UTF-8 text for logs (undecodable bytes as ``\\xNN``)."""
    text = str(path)
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _display_turns(frame: av.VideoFrame) -> int:
    """Quarter turns counter-clockwise (0-3) that show ``frame`` as a player does.

    From the display matrix (``frame.rotation``: counter-clockwise degrees, as FFmpeg's
    autorotate reads it). A ``rotate`` tag without a matrix (some Matroska writers) is ignored,
    as FFmpeg-based players ignore it. An angle that is not a multiple of 90 is rounded to the
    nearest quarter turn (logged); mirroring in the matrix is not applied.
    """
    try:
        ccw = float(frame.rotation)
    except (AttributeError, ValueError, TypeError):  # a malformed display matrix
        ccw = 0.0
    if math.isnan(ccw):  # a degenerate matrix
        ccw = 0.0
    if ccw % 90:
        log.warning("display rotation %.1f degrees rounded to a quarter turn", ccw)
    return int(round(ccw / 90)) % 4


def _clockwise(turns: int) -> int:
    """The recorded ``rotation`` (clockwise degrees) of ``turns`` counter-clockwise turns."""
    return (-90 * turns) % 360


# A stream whose guessed rate (FFmpeg's r_frame_rate: the rate all timestamps fit) is above its
# average rate has frames missing from that finer grid (variable frame rate, dropped frames, or
# just a duration rounded up): on it every frame keeps a slot of its own. Twice the average or
# more is a field rate (interlaced sources) or a time base, not a frame rate.
_GRID_MAX_RATIO = 1.9


def nominal_rate(stream: av.video.stream.VideoStream) -> Fraction | None:
    """The source-frame grid's rate: the guessed rate when it is a finer grid than the average
    (below 1.9 times it), else the average rate (or whatever rate the container has)."""
    avg, guess = stream.average_rate, stream.guessed_rate
    if avg and guess and avg < guess < avg * _GRID_MAX_RATIO:
        return guess
    return avg or guess or stream.base_rate


def _stream_seconds(container: av.container.InputContainer, stream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _grid_length(
    container: av.container.InputContainer, stream, fps: float, *, find_end: bool = False
) -> tuple[int, bool]:
    """(frame_count, variable_rate): the stored frame count for a constant rate stream, the
    grid's length (duration x ``fps``) when frames are missing from the grid. ``find_end``: a
    variable rate stream's last frame is looked up too (its duration may not count it)."""
    grid = int(round(_stream_seconds(container, stream) * fps))
    packets = stream.frames
    variable = bool(packets and grid and abs(packets - grid) > 1)  # 1: a rounded duration
    if variable and find_end:
        grid = max(grid, _last_slot(container, stream, fps) + 1)
    return ((grid or packets) if variable else (packets or grid)), variable


def _last_slot(container: av.container.InputContainer, stream, fps: float) -> int:
    """Grid slot of the stream's last frame, from the packets after the last keyframe that is
    two seconds or more before the end (demuxed, not decoded); -1 if none has a timestamp."""
    tb, start = stream.time_base, stream.start_time or 0
    if tb is None:
        return -1
    end = start + (stream.duration or 0)
    container.seek(max(start, end - int(2 / tb)), stream=stream, backward=True, any_frame=False)
    last = max((p.pts for p in container.demux(stream) if p.pts is not None), default=None)
    return -1 if last is None else int(math.floor((last - start) * tb * fps + 0.5))


def probe_video(path: str | Path, limits: VideoConfig | None = None) -> VideoProbe:
    """Probe a video with PyAV and decode one frame to prove it is readable.

    Raises ``VideoError`` with reason ``unreadable``, ``no_video_stream``, ``unsupported_codec``,
    ``no_frames`` or ``bad_frame_rate``; with ``limits``, also the reasons of ``check_limits``
    (the file size is checked before the file is opened for decoding).
    """
    path = Path(path)
    size = path.stat().st_size
    if limits is not None and size > limits.max_file_gb * 1e9:
        raise VideoError(
            path, "file_too_large", f"{size} bytes > max_file_gb={limits.max_file_gb:g}"
        )
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
        rate = nominal_rate(stream)
        if not rate or float(rate) <= 0:
            raise VideoError(path, "bad_frame_rate", str(rate))
        fps = float(rate)
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise VideoError(path, "unreadable", str(exc)) from exc
        if first is None:
            raise VideoError(path, "no_frames")
        turns = _display_turns(first)
        width, height = (first.height, first.width) if turns % 2 else (first.width, first.height)
        try:
            frames, variable = _grid_length(container, stream, fps, find_end=True)
        except av.error.FFmpegError as exc:  # the end of a variable rate stream is unreadable
            raise VideoError(path, "unreadable", str(exc)) from exc
        if frames <= 0:
            raise VideoError(path, "no_frames")
        if variable:
            log.info(
                "%s: variable frame rate: %d stored frames on a %d-slot grid at %.3f fps",
                _shown(path), stream.frames, frames, fps,
            )  # fmt: skip
        probe = VideoProbe(
            path=str(path),
            duration_sec=frames / fps,
            fps=fps,
            width=width,
            height=height,
            codec=codec,
            rotation=_clockwise(turns),
            frame_count=frames,
            size_bytes=size,
            variable_rate=variable,
        )
    if limits is not None:
        check_limits(probe, limits)
    return probe


def check_limits(probe: VideoProbe, limits: VideoConfig) -> None:
    """Refuse a video beyond the configured limits (docs/formats.md, "Video limits").

    Raises ``VideoError`` with reason ``file_too_large``, ``resolution_too_large``,
    ``resolution_too_small``, ``too_long`` or ``frame_rate_too_high``; the detail names the
    value and the limit's config field. Odd sizes are not refused (they are cropped or scaled
    to even ones).
    """
    w, h = probe.width, probe.height
    if probe.size_bytes > limits.max_file_gb * 1e9:
        raise VideoError(
            probe.path,
            "file_too_large",
            f"{probe.size_bytes} bytes > max_file_gb={limits.max_file_gb:g}",
        )
    if max(w, h) > limits.max_side:
        raise VideoError(
            probe.path, "resolution_too_large", f"{w}x{h}: a side > max_side={limits.max_side}"
        )
    if w * h > limits.max_pixels:
        raise VideoError(
            probe.path,
            "resolution_too_large",
            f"{w}x{h} = {w * h} pixels > max_pixels={limits.max_pixels}",
        )
    if min(w, h) < limits.min_short_side:
        raise VideoError(
            probe.path,
            "resolution_too_small",
            f"{w}x{h}: a side < min_short_side={limits.min_short_side}",
        )
    if probe.duration_sec > limits.max_duration_sec:
        raise VideoError(
            probe.path,
            "too_long",
            f"{probe.duration_sec:.1f} s > max_duration_sec={limits.max_duration_sec:g}",
        )
    if probe.fps > limits.max_fps:
        raise VideoError(
            probe.path, "frame_rate_too_high", f"{probe.fps:g} fps > max_fps={limits.max_fps:g}"
        )


def count_frames(path: str | Path) -> int:
    """Exact count of the frames stored in the stream, by demuxing packets (no decoding). On
    variable frame rate input this is below ``probe_video``'s grid ``frame_count``."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return sum(1 for p in container.demux(stream) if p.size > 0)
