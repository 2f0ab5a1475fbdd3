"""Cut H.264 clips of source frame ranges (docs/formats.md, "Clips").

A clip of ``[start_frame, end_frame)`` is the time range ``[start_frame / fps, end_frame / fps)``
of the source as a player shows it: upright (the display rotation applied), scaled so its short
side is ``ClipConfig.short_side`` (256 px by default, never enlarged; ``None`` / 0 = the source's
displayed size, cropped by one pixel per odd dimension: yuv420p needs even sizes) and at its
nominal frame rate, constant (frame ``k`` of the clip is the source frame shown at time
``(start_frame + k) / fps``, at ``k / fps`` in the clip). On variable frame rate input a grid slot
with no frame of its own repeats the frame before it and a second frame in one slot is dropped
(``pipeline.io.video.iter_frames``), so a clip always has ``end_frame - start_frame`` frames and
its duration is right. ``ClipConfig.fps`` (default null) cuts clips at a lower rate instead: the
frames ``sample_indices`` keeps at that rate (the whole video's grid, as the steps use), at
``k / clips.fps`` in the clip. All clips of a video come from ONE sequential decode (sorted,
non-overlapping ranges); an upright source is scaled once by swscale straight to yuv420p and
handed to x264 as ``av.VideoFrame`` objects (``pipeline.io.video.iter_video_frames``); each
clip is written to a temp file and published atomically through the store.
A clip already stored under its key is kept when the video's ``clips.json`` (beside its clips,
written after them) records the same settings (``ClipConfig.record``: size, preset, threads,
crf, fps); otherwise every clip of the video is rewritten (the record is deleted first, so a run
killed half-way never leaves old and new clips under one record). Keys are content ids
(``segment_id``). A clip that
cannot be written (range past the end of the stream, a decode or encode error, no frame at
``clips.fps`` in its range) gets a ``failed: <reason>`` status and the other clips go on.
"""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import av
from pydantic import Field

from pipeline.config import FrozenConfig
from pipeline.errors import ClipError, VideoError
from pipeline.io.storage import Storage
from pipeline.io.video import (
    encode_frames,
    iter_video_frames,
    normalized_size,
    sample_indices,
    sample_step,
)

log = logging.getLogger(__name__)

CLIP_CRF = 20
# swscale's filter when shrinking a frame to the clip size (BENCHMARKS.md, "Speed")
INTERPOLATION = "AREA"
RECORD_NAME = "clips.json"  # per video folder: the settings its clips were cut with

X264Preset = Literal[
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"
]


class ClipConfig(FrozenConfig):
    """How clips are cut (docs/formats.md, "Clips"). Defaults measured on the 640x480 bench
    video, one core (BENCHMARKS.md, "Speed: `laps bench --e2e`")."""

    short_side: int | None = Field(
        256, ge=0, description="clip short side, px (never enlarged); null or 0 = full size"
    )
    preset: X264Preset = Field("superfast", description="x264 preset")
    threads: int = Field(
        1, ge=0, le=64, description="x264 threads per clip; 0 = libx264's choice (per core)"
    )
    crf: int = Field(CLIP_CRF, ge=0, le=51, description="x264 constant rate factor")
    fps: float | None = Field(
        None,
        gt=0,
        le=1000,
        description="clip frame rate (sampled like the steps; never above the source's); "
        "null = the source's nominal rate",
    )

    def size(self, width: int, height: int) -> tuple[int, int]:
        """The clip size of a ``width`` x ``height`` (displayed) source: even sides."""
        if not self.short_side or self.short_side >= min(width, height):
            return even_size(width, height)
        return normalized_size(width, height, self.short_side)

    def record(self, width: int, height: int) -> dict[str, Any]:
        """What a video's ``clips.json`` and the segment files' meta say its clips used."""
        w, h = self.size(width, height)
        return {"width": w, "height": h, **self.model_dump(mode="json")}

    def rate(self, source_fps: float) -> float:
        """The clips' frame rate from a ``source_fps`` source: ``fps``, never above the source's."""
        return source_fps / sample_step(source_fps, self.fps or source_fps)

    def frame_indexes(self, source_fps: float, start_frame: int, end_frame: int) -> list[int]:
        """Source frames of a clip of ``[start_frame, end_frame)``: all of them at the source's
        rate, else those ``sample_indices`` keeps at ``fps`` (the whole video's grid)."""
        target = self.fps or source_fps
        return list(sample_indices(source_fps, target, start_frame, end_frame))


# What decoding one source can raise (vanished, truncated, undecodable): it ends the decode pass
# and fails the clips that did not get their frames; the clips before it stay written.
_MEDIA_FAULTS = (av.error.FFmpegError, VideoError, OSError, EOFError)


@dataclass(frozen=True)
class ClipSpec:
    """Store ``key`` of a clip of source frames ``[start_frame, end_frame)``."""

    key: str
    start_frame: int
    end_frame: int

    @property
    def frames(self) -> int:
        return self.end_frame - self.start_frame


def even_size(width: int, height: int) -> tuple[int, int]:
    """The clip size: each dimension rounded down to an even number."""
    return width - width % 2, height - height % 2


def _check(specs: Sequence[ClipSpec]) -> list[ClipSpec]:
    ordered = sorted(specs, key=lambda s: s.start_frame)
    prev_end = 0
    for s in ordered:
        if s.start_frame < prev_end or s.end_frame <= s.start_frame or s.start_frame < 0:
            raise ValueError(f"clip ranges must be non-empty and non-overlapping, got {s}")
        prev_end = s.end_frame
    return ordered


def write_clips(
    store: Storage,
    video_path: str | Path,
    specs: Sequence[ClipSpec],
    *,
    fps: float,
    width: int,
    height: int,
    config: ClipConfig | None = None,
    on_clip: Callable[[ClipSpec], None] | None = None,
) -> dict[str, str]:
    """Encode every clip not stored yet; returns ``key -> "written" | "kept" | "failed: ..."``.

    ``fps``, ``width``, ``height`` are the source's (from the ``videos`` table: nominal rate,
    displayed size). A clip the decoder cannot fill (past the end of the stream, a decode or an
    encode error) is not published: status ``failed: <reason>``, logged; the others go on.
    Clips stored with other settings (``config``, default ``ClipConfig()``) are rewritten.
    """
    cfg = config or ClipConfig()
    ordered = _check(specs)
    if not ordered:
        return {}
    record = cfg.record(width, height)
    marker = record_key(ordered[0].key)
    if _stored_record(store, marker) == record:
        status = {s.key: "kept" for s in ordered if store.exists(s.key)}
    else:  # other settings (or none recorded): every clip again, the old record gone first
        store.delete(marker, missing_ok=True)
        status = {}
    todo = [s for s in ordered if s.key not in status]
    if todo:
        _encode(store, video_path, todo, status, fps, width, height, cfg, on_clip)
    store.write_bytes(marker, (json.dumps(record, sort_keys=True) + "\n").encode())
    return status


def publish_refusal(
    metadata: Mapping[bytes, bytes] | None, source_fps: Iterable[float]
) -> str | None:
    """Why the clips of a segments table (its Arrow ``metadata``: ``clips`` = the settings) cannot
    be published, or None. The published formats (JSONL ``frame.clip``, the LeRobot export, the
    dataset's ``num_frames``) index clip frames at the source rate: clips cut at a ``clips.fps``
    below a video's rate (``source_fps``) are refused."""
    try:
        settings = json.loads((metadata or {}).get(b"clips", b"null"))
    except ValueError:
        return None
    fps = settings.get("fps") if isinstance(settings, dict) else None
    faster = sorted({float(f) for f in source_fps if float(f) > float(fps)}) if fps else []
    if not faster:
        return None
    return (
        f"clips were cut at clips.fps={float(fps):g}, below the source rate ({faster[0]:g} fps); "
        "the published formats index clip frames at the source rate: set clips.fps to null "
        "and rerun segments"
    )


def record_key(clip_key: str) -> str:
    """The ``clips.json`` record beside a clip."""
    return posixpath.join(posixpath.dirname(clip_key), RECORD_NAME)


def _stored_record(store: Storage, key: str) -> dict[str, Any] | None:
    if not store.exists(key):
        return None
    try:
        return json.loads(store.read_bytes(key))
    except ValueError:
        return None


def _encode(
    store: Storage,
    video_path: str | Path,
    todo: list[ClipSpec],
    status: dict[str, str],
    fps: float,
    width: int,
    height: int,
    cfg: ClipConfig,
    on_clip: Callable[[ClipSpec], None] | None,
) -> None:
    size = cfg.size(width, height)
    scaled = size != even_size(width, height)
    frames = iter_video_frames(
        video_path,
        target_fps=cfg.fps or fps,
        source_fps=fps,
        size=size if scaled else (width, height),  # scaled: swscale straight to the clip size
        start_frame=todo[0].start_frame,
        end_frame=todo[-1].end_frame,
        interpolation=INTERPOLATION,
    )
    source = _Cursor(frames)
    rate = cfg.rate(fps)
    for spec in todo:
        try:
            want = len(cfg.frame_indexes(fps, spec.start_frame, spec.end_frame))
            if not want:
                raise ClipError(
                    f"{spec.key}: no frame of [{spec.start_frame}, {spec.end_frame}) "
                    f"at clips.fps={cfg.fps:g}"
                )
            if not source.has_frames(spec):
                raise ClipError(
                    f"{spec.key}: no source frame in [{spec.start_frame}, {spec.end_frame})"
                    + (f" ({source.error})" if source.error else "")
                )
            with store.writer_path(spec.key) as tmp:
                n = encode_frames(
                    source.take(spec), tmp, fps=rate, crf=cfg.crf, preset=cfg.preset,
                    threads=cfg.threads,
                )  # fmt: skip
                if n != want:  # a decode error after the clip's last frame spares it
                    raise ClipError(
                        f"{spec.key}: got {n} of {want} frames from the source"
                        + (f" ({source.error})" if source.error else "")
                    )
            status[spec.key] = "written"
        except (ClipError, av.error.FFmpegError) as exc:  # this clip only (an encode error)
            reason = str(exc) if isinstance(exc, ClipError) else f"{type(exc).__name__}: {exc}"
            log.warning("clip not written: %s", reason)
            status[spec.key] = f"failed: {reason}"
        if on_clip:
            on_clip(spec)


class _Cursor:
    """One pass over decoded frames, handed out range by range. A decode error ends the pass:
    it is kept in ``error`` and every later range reports it."""

    def __init__(self, frames: Iterator[tuple[int, av.VideoFrame]]) -> None:
        self._it = frames
        self.error: str | None = None
        self._last = -1
        self._next: tuple[int, av.VideoFrame] | None = self._advance()

    def _advance(self) -> tuple[int, av.VideoFrame] | None:
        if self.error is not None:
            return None
        try:
            item = next(self._it, None)
        except _MEDIA_FAULTS as exc:
            self.error = (
                f"source decode failed after frame {self._last}: {type(exc).__name__}: {exc}"
            )
            return None
        if item is not None:
            self._last = item[0]
        return item

    def has_frames(self, spec: ClipSpec) -> bool:
        """True if a frame of ``[start_frame, end_frame)`` may still come (skips earlier ones)."""
        while self._next is not None and self._next[0] < spec.start_frame:
            self._next = self._advance()
        return self._next is not None and self._next[0] < spec.end_frame

    def take(self, spec: ClipSpec) -> Iterator[av.VideoFrame]:
        """The frames of source frames ``[start_frame, end_frame)``, at the clip size."""
        while self._next is not None and self._next[0] < spec.end_frame:
            index, frame = self._next
            self._next = self._advance()
            if index >= spec.start_frame:
                yield frame
