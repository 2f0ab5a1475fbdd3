"""Ingest: discover landed videos, probe them, quarantine bad files, plan chunks.

A landing location (local folder or ``s3://bucket/prefix``) holds ``<station>/.../<file>``.
The station is the first folder; the date is the first ``YYYY-MM-DD`` folder or file-name part
in the path, else the file's modification date (UTC). Videos and chunks are manifest rows, not
Dagster partitions; a partition is one (date, station).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pipeline.config import VideoConfig, WindowConfig
from pipeline.errors import StorageError, VideoError
from pipeline.io.storage import ObjectInfo, Storage
from pipeline.io.video import (
    VideoProbe,
    normalized_size,
    probe_video,
    sample_step,
    sha256_file,
    source_index,
)

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = (".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v")
_DATE_IN_PATH = re.compile(r"(?<!\d)(\d{4}-\d{2}-\d{2})(?!\d)")


@dataclass(frozen=True)
class LandedFile:
    key: str  # key relative to the landing root
    station: str
    date: str
    size: int
    mtime: datetime


def landed_file(info: ObjectInfo) -> LandedFile | None:
    """Station and date of a landed object; None for files directly under the root."""
    parts = info.key.split("/")
    if len(parts) < 2 or not parts[0]:
        return None
    m = _DATE_IN_PATH.search("/".join(parts[1:]))
    date = m.group(1) if m else info.mtime.astimezone(UTC).strftime("%Y-%m-%d")
    return LandedFile(key=info.key, station=parts[0], date=date, size=info.size, mtime=info.mtime)


def discover(landing: Storage, suffixes: tuple[str, ...] = VIDEO_SUFFIXES) -> list[LandedFile]:
    """Every video file under the landing root (extensions matched case-insensitively; hidden
    files and folders left out, as ``laps segment`` does), sorted by key."""
    found = []
    wanted = tuple(s.lower() for s in suffixes)
    for info in landing.list(""):
        if not info.key.lower().endswith(wanted):  # `A.MP4` is a video too
            continue
        if any(part.startswith(".") for part in info.key.split("/")):
            # hidden files and folders (`._take.mp4` of macOS, `.staging/`): as `laps segment`
            log.info("ignoring hidden file %s", landing.uri(info.key))
            continue
        lf = landed_file(info)
        if lf is None:
            log.warning("ignoring %s: files must sit under a station folder", info.key)
            continue
        found.append(lf)
    return found


def normalized_frame_count(fps: float, target_fps: float, frame_count: int) -> int:
    """How many frames the sampler keeps from ``frame_count`` source frames."""
    # kept k satisfies source_index(k) < frame_count
    k = math.floor((frame_count - 0.5) / sample_step(fps, target_fps))
    while k >= 0 and source_index(k, fps, target_fps) >= frame_count:
        k -= 1
    while source_index(k + 1, fps, target_fps) < frame_count:
        k += 1
    return max(0, k + 1)


def window_count(n_norm: int, windows: WindowConfig) -> int:
    """Full windows in a video of ``n_norm`` normalized frames."""
    if n_norm < windows.window_frames:
        return 0
    return (n_norm - windows.window_frames) // windows.stride_frames + 1


def plan_chunks(
    video_id: str, fps: float, frame_count: int, video: VideoConfig, windows: WindowConfig
) -> list[dict[str, Any]]:
    """Chunk manifest rows for one video.

    A chunk owns the windows that start inside it; it extends one window past its end so those
    windows are complete (chunks overlap by one tracking window). Chunk length in normalized frames
    is a multiple of the stride so window starts line up across chunks.
    """
    stride, T = windows.stride_frames, windows.window_frames
    n_norm = normalized_frame_count(fps, video.target_fps, frame_count)
    n_win = window_count(n_norm, windows)
    per_chunk = max(stride, int(video.chunk_seconds * video.target_fps) // stride * stride)
    rows = []
    c = 0
    while c * per_chunk < max(n_norm, 1):
        first_norm = c * per_chunk
        first_win = first_norm // stride
        owned = max(0, min(n_win, (first_norm + per_chunk) // stride) - first_win)
        end_norm = min(n_norm, first_norm + per_chunk + T - stride)
        start_f = source_index(first_norm, fps, video.target_fps)
        end_f = frame_count if end_norm >= n_norm else source_index(end_norm, fps, video.target_fps)
        rows.append(
            {
                "chunk_id": f"{video_id[:16]}-c{c:05d}",
                "video_id": video_id,
                "chunk_index": c,
                "start_frame": start_f,
                "end_frame": end_f,
                "start_sec": start_f / fps,
                "end_sec": end_f / fps,
                "first_window_index": first_win,
                "num_windows": owned,
                "fps": fps,
                "target_fps": video.target_fps,
                "window_frames": T,
                "stride_frames": stride,
            }
        )
        c += 1
    return rows


@dataclass
class IngestResult:
    videos: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    skipped_known: list[str] = field(default_factory=list)  # uris of videos ingested elsewhere

    def drop_reasons(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for row in self.quarantine:
            counts[row["reason"]] = counts.get(row["reason"], 0) + 1
        return counts


def ingest_files(
    landing: Storage,
    files: Iterable[LandedFile],
    *,
    known: dict[str, str],
    video: VideoConfig,
    windows: WindowConfig,
    on_file: Callable[[LandedFile], None] | None = None,
) -> IngestResult:
    """Probe and plan each file. ``known`` maps video_id -> where it was ingested before.

    A video ingested in another partition is skipped (listed in ``skipped_known``); a second copy
    of the same bytes inside this batch, an unreadable or unsupported file become quarantine rows.
    Nothing raises for a bad file: the batch goes on.
    """
    result = IngestResult()
    seen: dict[str, str] = {}
    for lf in files:
        if on_file:
            on_file(lf)
        uri, name = printable(landing.uri(lf.key)), printable(lf.key.rsplit("/", 1)[-1])
        if not is_utf8(lf.key):
            # the tables hold UTF-8 text: such a name is reported (escaped), never written raw
            log.warning("quarantined %s: file name is not valid UTF-8", uri)
            result.quarantine.append(
                _bad(uri, name, lf.size, None, "bad_file_name", "file name is not valid UTF-8")
            )
            continue
        try:
            row = _probe_file(landing, lf, uri, name, known, seen, result, video, windows)
        except (OSError, StorageError) as err:  # vanished, permission denied, I/O error
            log.warning("quarantined %s: cannot be read (%s)", uri, err)
            result.quarantine.append(
                _bad(uri, name, lf.size, None, "unreadable", f"{type(err).__name__}: {err}")
            )
            continue
        if row is not None:
            result.videos.append(row)
    return result


def _probe_file(
    landing: Storage,
    lf: LandedFile,
    uri: str,
    name: str,
    known: dict[str, str],
    seen: dict[str, str],
    result: IngestResult,
    video: VideoConfig,
    windows: WindowConfig,
) -> dict[str, Any] | None:
    """Hash and probe one landed file; its video row, or None (skipped or quarantined)."""
    with landing.local_path(lf.key) as path:
        vid = sha256_file(path)
        if vid in known:
            log.info("%s already ingested (%s); skipping", uri, known[vid])
            result.skipped_known.append(uri)
            return None
        if vid in seen:
            result.quarantine.append(_bad(uri, name, lf.size, vid, "duplicate", seen[vid]))
            return None
        try:
            probe = probe_video(path)
        except VideoError as err:
            log.warning("quarantined %s: %s", uri, err)
            result.quarantine.append(_bad(uri, name, lf.size, vid, err.reason, err.detail))
            return None
    seen[vid] = uri
    chunks = plan_chunks(vid, probe.fps, probe.frame_count, video, windows)
    return _video_row(vid, uri, name, lf, probe, video, chunks)


def is_utf8(text: str) -> bool:
    """Whether a name decoded from the file system is valid UTF-8 (no surrogate escapes)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def printable(text: str) -> str:
    """A name as UTF-8 text: undecodable bytes shown as ``\\xNN`` (lossless for reading)."""
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def _bad(uri: str, name: str, size: int, vid: str | None, reason: str, detail: str) -> dict:
    return {
        "uri": uri,
        "file_name": name,
        "size_bytes": size,
        "video_id": vid,
        "reason": reason,
        "detail": detail,
    }


def _video_row(vid, uri, name, lf: LandedFile, probe: VideoProbe, video: VideoConfig, chunks):
    w, h = normalized_size(probe.width, probe.height, video.short_side)
    return {
        "video_id": vid,
        "uri": uri,
        "file_name": name,
        "size_bytes": probe.size_bytes,
        "duration_sec": probe.duration_sec,
        "fps": probe.fps,
        "width": probe.width,
        "height": probe.height,
        "codec": probe.codec,
        "rotation": probe.rotation,
        "frame_count": probe.frame_count,
        "landed_at": lf.mtime,
        "target_fps": video.target_fps,
        "norm_width": w,
        "norm_height": h,
        "num_chunks": len(chunks),
        "num_windows": sum(c["num_windows"] for c in chunks),
    }
