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
from pipeline.io.names import is_utf8, printable, raw_bytes
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
_STATION_BAD = re.compile(r"[^A-Za-z0-9_.-]+")

SYMLINK_OUTSIDE = "symlink_outside_landing"
"""Quarantine reason of a symbolic link whose target lies outside the landing root."""
PROBLEM_DETAILS = {
    SYMLINK_OUTSIDE: "symbolic link to a location outside the landing area (never followed)",
}
"""Detail text of each ``LandedFile.problem`` (the target of a link is never shown)."""


@dataclass(frozen=True)
class LandedFile:
    key: str  # key relative to the landing root
    station: str
    date: str
    size: int
    mtime: datetime
    problem: str | None = None  # a quarantine reason known at discovery: never read, reported


def landed_file(info: ObjectInfo) -> LandedFile | None:
    """Station and date of a landed object; None for files directly under the root or in a
    station folder whose name has nothing usable (see :func:`station_name`).

    The date is the first calendar date ``YYYY-MM-DD`` in the path below the station folder
    (``2026-13-45`` is passed over), else the file's modification date (UTC)."""
    parts = info.key.split("/")
    if len(parts) < 2 or not parts[0]:
        return None
    station = station_name(parts[0])
    if station is None:
        return None
    date = None
    for m in _DATE_IN_PATH.finditer("/".join(parts[1:])):
        try:
            date = datetime.strptime(m.group(1), "%Y-%m-%d").strftime("%Y-%m-%d")
            break
        except ValueError:
            log.warning("%s: %s is not a calendar date; not the partition date",
                        printable(info.key), m.group(1))  # fmt: skip
    if date is None:
        date = info.mtime.astimezone(UTC).strftime("%Y-%m-%d")
    problem = SYMLINK_OUTSIDE if info.escapes_root else None
    return LandedFile(info.key, station, date, info.size, info.mtime, problem)


def station_name(folder: str) -> str | None:
    """The station (partition folder name) of a landing folder: the name itself when it is a
    valid station (``[A-Za-z0-9][A-Za-z0-9_.-]{0,63}``), else runs of other characters
    replaced by ``-`` (``Line 3`` -> ``Line-3``, as ``laps segment`` names a folder's
    station); None when nothing is left (the folder's files are then reported and skipped)."""
    name = _STATION_BAD.sub("-", folder).strip("-._")[:64].rstrip("-._")
    return name or None


def landing_candidates(
    landing: Storage, suffixes: tuple[str, ...] = VIDEO_SUFFIXES
) -> list[ObjectInfo]:
    """What discovery takes from a landing root (a station layout or ``laps segment``'s
    folder), sorted by key: video files (extension in any case: ``A.MP4``), and every symbolic
    link that leads out of the root (``escapes_root``: reported, never read). Hidden files and
    folders (``._take.mp4`` of macOS, ``.staging/``) are left out (logged)."""
    return [info for info in landing.list("") if is_candidate(info, suffixes)]


def not_taken_reason(info: ObjectInfo, suffixes: tuple[str, ...] = VIDEO_SUFFIXES) -> str | None:
    """Why discovery leaves a listed object out (``hidden``, ``not_a_video``), or None."""
    if any(part.startswith(".") for part in info.key.split("/")):
        return "hidden"
    if not info.escapes_root and not info.key.lower().endswith(tuple(s.lower() for s in suffixes)):
        return "not_a_video"
    return None


def is_candidate(info: ObjectInfo, suffixes: tuple[str, ...] = VIDEO_SUFFIXES) -> bool:
    """Whether discovery takes one listed object (:func:`landing_candidates`; the rule
    ``laps segment`` applies to its input folder too)."""
    reason = not_taken_reason(info, suffixes)
    if reason is not None:
        log.debug("not taking %s: %s", printable(info.key), reason)
        return False
    if info.escapes_root:
        log.info("%s: symbolic link out of the landing area; not followed (quarantined)",
                 printable(info.key))  # fmt: skip
    return True


def folder_file(info: ObjectInfo, station: str, date: str) -> LandedFile:
    """A file of a folder given as one partition (``laps segment --input``): its station and
    date are given; a link out of the folder is marked like :func:`landed_file` marks it."""
    problem = SYMLINK_OUTSIDE if info.escapes_root else None
    return LandedFile(info.key, station, date, info.size, info.mtime, problem)


def not_taken(
    landing: Storage, date: str | None = None, station: str | None = None
) -> list[dict[str, str]]:
    """Every listed file discovery leaves out, with the reason (``hidden``, ``not_a_video``,
    ``no_station_folder``), optionally only those of one (date, station): what the ingest
    summary reports, so no landed file is dropped silently."""
    out = []
    for info in landing.list(""):
        reason = not_taken_reason(info)
        lf = landed_file(info)
        if reason is None and lf is None:
            reason = "no_station_folder"
        if reason is None:
            continue
        if station is not None and (lf is None or (lf.date, lf.station) != (date, station)):
            continue
        out.append({"file": printable(info.key), "reason": reason})
    return out


def discover(landing: Storage, suffixes: tuple[str, ...] = VIDEO_SUFFIXES) -> list[LandedFile]:
    """Every video file under the landing root, and every link out of it (``problem`` set, to
    be quarantined), with station and date from the path (:func:`landed_file`), sorted by key.
    Links inside the root are taken like the files they point to (a second copy of the same
    bytes is quarantined as ``duplicate`` at ingest); linked folders are never descended."""
    found = []
    for info in landing_candidates(landing, suffixes):
        lf = landed_file(info)
        if lf is None:
            log.warning("ignoring %s: files must sit under a station folder with a usable name",
                        printable(info.key))  # fmt: skip
            continue
        if lf.station != info.key.split("/", 1)[0]:
            log.info("station folder %s is named %s", printable(info.key.split("/", 1)[0]),
                     lf.station)  # fmt: skip
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
        raw_uri = landing.uri(lf.key)
        uri, name = printable(raw_uri), printable(lf.key.rsplit("/", 1)[-1])
        if lf.problem is not None:  # known at discovery (a link out of the landing area)
            log.warning("quarantined %s: %s", uri, lf.problem)
            detail = PROBLEM_DETAILS.get(lf.problem, lf.problem)
            result.quarantine.append(
                _bad(uri, name, lf.size, None, lf.problem, detail, raw_uri, lf.key)
            )
            continue
        if not is_utf8(lf.key):
            # processed like any other file; the tables hold the escaped text plus the exact bytes
            log.info("%s: file name is not valid UTF-8 (stored escaped and as bytes)", uri)
        try:
            row = _probe_file(landing, lf, uri, name, known, seen, result, video, windows)
        except (OSError, StorageError) as err:  # vanished, permission denied, I/O error
            log.warning("quarantined %s: cannot be read (%s)", uri, printable(str(err)))
            result.quarantine.append(
                _bad(
                    uri,
                    name,
                    lf.size,
                    None,
                    "unreadable",
                    printable(f"{type(err).__name__}: {err}"),
                    raw_uri,
                    lf.key,
                )
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
    raw_uri = landing.uri(lf.key)
    if lf.size > video.max_file_gb * 1e9:  # refused by its listed size: never read, never hashed
        detail = f"{lf.size} bytes > max_file_gb={video.max_file_gb:g}"
        log.warning("quarantined %s: file_too_large (%s)", uri, detail)
        result.quarantine.append(
            _bad(uri, name, lf.size, None, "file_too_large", detail, raw_uri, lf.key)
        )
        return None
    with landing.local_path(lf.key) as path:
        vid = sha256_file(path)
        if vid in known:
            log.info("%s already ingested (%s); skipping", uri, known[vid])
            result.skipped_known.append(uri)
            return None
        if vid in seen:
            result.quarantine.append(
                _bad(uri, name, lf.size, vid, "duplicate", seen[vid], raw_uri, lf.key)
            )
            return None
        try:
            probe = probe_video(path, limits=video)
        except VideoError as err:
            log.warning("quarantined %s: %s", uri, err)
            result.quarantine.append(
                _bad(uri, name, lf.size, vid, err.reason, err.detail, raw_uri, lf.key)
            )
            return None
    seen[vid] = uri
    chunks = plan_chunks(vid, probe.fps, probe.frame_count, video, windows)
    return _video_row(vid, uri, raw_uri, name, lf, probe, video, chunks)


def _bad(
    uri: str,
    name: str,
    size: int,
    vid: str | None,
    reason: str,
    detail: str,
    raw_uri: str,
    key: str,
) -> dict:
    return {
        "uri": uri,
        "uri_bytes": raw_bytes(raw_uri),
        "landing_key": printable(key),
        "file_name": name,
        "size_bytes": size,
        "video_id": vid,
        "reason": reason,
        "detail": detail,
    }


def _video_row(
    vid, uri, raw_uri, name, lf: LandedFile, probe: VideoProbe, video: VideoConfig, chunks
):
    w, h = normalized_size(probe.width, probe.height, video.short_side)
    return {
        "video_id": vid,
        "uri": uri,
        "uri_bytes": raw_bytes(raw_uri),
        "landing_key": printable(lf.key),
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
