"""Partition-level stages of the motion half: point tracks per chunk, latent codes per window."""

from __future__ import annotations

import json
import logging
import posixpath
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import av

from pipeline.config import VideoConfig, WindowConfig
from pipeline.context import StageSummary
from pipeline.errors import StorageError, VideoError
from pipeline.io import schemas
from pipeline.io.keys import tracks_key
from pipeline.io.names import printable
from pipeline.io.storage import S3Settings, Storage, open_storage
from pipeline.io.tables import read_partition, write_failures, write_partition
from pipeline.io.video import iter_frames
from pipeline.tracks.flow import flow_size
from pipeline.tracks.store import load_tracks, save_tracks
from pipeline.tracks.tracking import TrackingConfig, WindowTracks, iter_window_batches
from pipeline.workers import map_videos

log = logging.getLogger(__name__)


def tracking_fingerprint(
    video: VideoConfig, windows: WindowConfig, tracking: TrackingConfig
) -> str:
    """Identifies everything that changes the tracks (part of their storage keys): the configs
    and which source frames are sampled (``FRAME_SAMPLING_VERSION``; version 1 left it out)."""
    import hashlib

    from pipeline.io.video import FRAME_SAMPLING_VERSION

    blob = "|".join(c.fingerprint() for c in (video, windows, tracking))
    blob += f"|sampling:v{FRAME_SAMPLING_VERSION}"
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


# What one video's file can do wrong after ingest (vanished, truncated, undecodable, unreadable):
# caught per video so that the others proceed. Anything else is a bug and propagates.
FILE_FAULTS = (av.error.FFmpegError, VideoError, StorageError, OSError, EOFError)


def failure_row(video: dict[str, Any], item: str | None, err: BaseException) -> dict[str, Any]:
    """A ``failures`` table row for ``video`` (the stage is added by ``write_failures``)."""
    reason = getattr(err, "reason", None) or type(err).__name__
    return {
        "video_id": video["video_id"],
        "uri": video["uri"],
        "file_name": video["file_name"],
        "item": item,
        "reason": str(reason),
        "detail": printable(f"{type(err).__name__}: {err}")[:2000],
    }


def video_location(row: dict[str, Any]) -> str:
    """Where a video row's file is, exactly: its ``uri_bytes`` (videos schema v2) decoded as the
    file system names it, or ``uri`` for rows written before v2."""
    raw = row.get("uri_bytes")
    return raw.decode("utf-8", "surrogateescape") if raw else row["uri"]


@contextmanager
def open_video_uri(uri: str):
    """A local path for a video given by its full uri (local path or s3://...)."""
    parent, name = (
        posixpath.split(uri) if uri.startswith("s3://") else (str(Path(uri).parent), Path(uri).name)
    )
    store = open_storage(parent, s3=S3Settings.from_env())
    with store.local_path(name) as path:
        yield path


def track_chunk(
    video_path: str | Path,
    chunk: dict[str, Any],
    video: VideoConfig,
    windows: WindowConfig,
    tracking: TrackingConfig,
    frame_size: tuple[int, int],
    *,
    batch_windows: int = 128,
) -> Iterator[WindowTracks]:
    """Decode one chunk at the target rate and yield its windows' tracks in bounded batches.

    With DIS the decoder delivers frames straight at the flow grid's size (area-averaged by
    swscale), which costs far less than decoding to ``frame_size`` and resizing.
    """
    decode_size = frame_size
    if tracking.method == "dis":
        decode_size = flow_size(frame_size, tracking.flow_downscale)
    frames = iter_frames(
        video_path,
        target_fps=video.target_fps,
        size=decode_size,
        start_frame=chunk["start_frame"],
        end_frame=chunk["end_frame"],
        source_fps=chunk["fps"],
    )
    yield from iter_window_batches(
        frames,
        windows,
        tracking,
        first_window_index=chunk["first_window_index"],
        max_windows=chunk["num_windows"],
        frame_size=frame_size,
        batch_windows=batch_windows,
    )


def _window_rows(tracks: WindowTracks, chunk: dict, key: str, windows: WindowConfig) -> list[dict]:
    rows = []
    for i in range(len(tracks)):
        rows.append(
            {
                "video_id": chunk["video_id"],
                "chunk_index": chunk["chunk_index"],
                "window_index": int(tracks.window_index[i]),
                "start_frame": int(tracks.start_frame[i]),
                "end_frame": int(tracks.end_frame[i]),
                "start_sec": float(tracks.start_sec[i]),
                "end_sec": float(tracks.end_sec[i]),
                "gated": bool(tracks.gated[i]),
                "camera_compensated": bool(tracks.camera_compensated[i]),
                "global_motion_share": float(tracks.global_motion_share[i]),
                "track_speed": float(tracks.track_speed[i]),
                "flow_magnitude": float(tracks.flow_magnitude[i]),
                "pixel_diff": float(tracks.pixel_diff[i]),
                "tracks_key": key,
                "fps": chunk["fps"],
                "target_fps": chunk["target_fps"],
                "window_frames": windows.window_frames,
                "stride_frames": windows.stride_frames,
                "grid_size": windows.grid_size,
            }
        )
    return rows


def track_partition(
    store: Storage,
    date: str,
    station: str,
    *,
    video: VideoConfig,
    windows: WindowConfig,
    tracking: TrackingConfig,
    on_chunk: Callable[[int, int], None] | None = None,
    workers: int = 1,
) -> tuple[list[dict], StageSummary]:
    """Track every chunk of the partition; write its tracks (npz parts of at most 256 windows,
    then a ``.done.json`` marker listing them) and the windows table. Videos are tracked on up
    to ``workers`` processes (``pipeline.workers``; the same rows and files as one).

    A chunk whose marker exists under the same config fingerprint is reused: parts are written
    atomically and the marker last, so a crashed run never leaves a chunk that looks complete.
    """
    chunks = read_partition(store, "chunks", date, station)
    videos = read_partition(store, "videos", date, station)
    by_id = {v["video_id"]: v for v in (videos.to_pylist() if videos is not None else [])}
    chunk_rows = chunks.to_pylist() if chunks is not None else []
    fp = tracking_fingerprint(video, windows, tracking)
    per_video: dict[str, list[dict]] = {}  # video_id -> its chunks (contiguous, in order)
    for chunk in chunk_rows:
        per_video.setdefault(chunk["video_id"], []).append(chunk)
    rows: list[dict] = []
    failures: dict[str, dict] = {}  # video_id -> its failure row: the rest of the partition goes on
    reused = 0
    done_chunks = 0
    todo = [(fp, date, station, by_id[vid], cs, video, windows, tracking)
            for vid, cs in per_video.items()]  # fmt: skip

    def on_video(i: int, result: tuple[list[dict], dict | None, int]) -> None:
        nonlocal done_chunks
        done_chunks += len(todo[i][4])
        if on_chunk:
            on_chunk(done_chunks, len(chunk_rows))

    for video_rows, failure, n_reused in map_videos(
        _track_video, store, todo, workers=workers, on_result=on_video
    ):
        reused += n_reused
        if failure is not None:
            failures[failure["video_id"]] = failure
        else:
            rows.extend(video_rows)
    rows = [r for r in rows if r["video_id"] not in failures]  # all of a failed video, or none
    write_failures(store, date, station, "tracks", list(failures.values()))
    meta = {"tracking_config": tracking.model_dump(), "tracking_fingerprint": fp}
    key = write_partition(
        store,
        "windows",
        date,
        station,
        rows,
        schema=schemas.WINDOWS,
        schema_version=schemas.WINDOWS_VERSION,
        metadata=meta,
    )
    gated = sum(r["gated"] for r in rows)
    comp = sum(r["camera_compensated"] for r in rows)
    return rows, StageSummary(
        rows={"windows": len(rows)},
        keys={"windows": key},
        extra={
            "chunks": len(chunk_rows),
            "reused_chunks": reused,
            "gated_windows": gated,
            "camera_compensated_windows": comp,
            "tracking_fingerprint": fp,
            "failed_videos": sorted(r["file_name"] for r in failures.values()),
        },
    )


def _track_video(
    store: Storage,
    fp: str,
    date: str,
    station: str,
    v: dict,
    chunks: list[dict],
    video: VideoConfig,
    windows: WindowConfig,
    tracking: TrackingConfig,
) -> tuple[list[dict], dict | None, int]:
    """Track (or reuse) every chunk of one video: its window rows, or its failure row (the
    first chunk that failed; its other windows are left out), and how many chunks were reused."""
    rows: list[dict] = []
    reused = 0
    for chunk in chunks:
        done_key = tracks_key(fp, date, station, v["video_id"], chunk["chunk_index"])
        try:
            if store.exists(done_key):
                reused += 1
                for key in json.loads(store.read_bytes(done_key))["parts"]:
                    with store.local_path(key) as p:
                        rows.extend(_window_rows(load_tracks(p), chunk, key, windows))
            else:
                parts = []
                for key, batch in _track_and_store(
                    store, fp, date, station, v, chunk, video, windows, tracking
                ):
                    parts.append(key)
                    rows.extend(_window_rows(batch, chunk, key, windows))
                store.write_bytes(done_key, json.dumps({"parts": parts}).encode())  # marker last
        except FILE_FAULTS as err:
            failure = failure_row(v, chunk["chunk_id"], err)
            log.warning(
                "tracking failed for %s (chunk %s): %s; its windows are left out, the rest goes on",
                v["uri"], chunk["chunk_id"], failure["detail"],
            )  # fmt: skip
            return [], failure, reused
    return rows, None, reused


def _track_and_store(
    store: Storage,
    fp: str,
    date: str,
    station: str,
    v: dict,
    chunk: dict,
    video: VideoConfig,
    windows: WindowConfig,
    tracking: TrackingConfig,
) -> Iterator[tuple[str, WindowTracks]]:
    """Track one chunk, writing each batch of windows as one npz part; yields (key, batch)."""
    frame_size = (v["norm_width"], v["norm_height"])
    with open_video_uri(video_location(v)) as vpath:
        for i, batch in enumerate(track_chunk(vpath, chunk, video, windows, tracking, frame_size)):
            key = tracks_key(fp, date, station, chunk["video_id"], chunk["chunk_index"], i)
            with store.writer_path(key, suffix=".npz") as tmp:
                save_tracks(batch, tmp, meta={"chunk_id": chunk["chunk_id"], "fingerprint": fp})
            yield key, batch
