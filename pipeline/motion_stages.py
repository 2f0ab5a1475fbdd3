"""Partition-level stages of the motion half: point tracks per chunk, latent codes per window."""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pipeline import schemas
from pipeline.config import VideoConfig, WindowConfig
from pipeline.stages import StageSummary
from pipeline.storage import S3Settings, Storage, open_storage
from pipeline.tables import read_partition, write_partition
from pipeline.track_store import load_tracks, save_tracks
from pipeline.tracking import TrackingConfig, WindowTracks, track_windows
from pipeline.video import iter_frames

log = logging.getLogger(__name__)


def tracking_fingerprint(
    video: VideoConfig, windows: WindowConfig, tracking: TrackingConfig
) -> str:
    """Identifies everything that changes the tracks (part of their storage keys)."""
    import hashlib

    blob = "|".join(c.fingerprint() for c in (video, windows, tracking))
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def tracks_key(fp: str, date: str, station: str, video_id: str, chunk_index: int) -> str:
    return f"tracks/{fp}/date={date}/station={station}/{video_id[:16]}-c{chunk_index:05d}.npz"


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
) -> WindowTracks:
    """Decode one chunk at the target rate and track all windows it owns."""
    frames = iter_frames(
        video_path,
        target_fps=video.target_fps,
        short_side=video.short_side,
        start_frame=chunk["start_frame"],
        end_frame=chunk["end_frame"],
        source_fps=chunk["fps"],
    )
    return track_windows(
        frames,
        windows,
        tracking,
        first_window_index=chunk["first_window_index"],
        max_windows=chunk["num_windows"],
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
) -> StageSummary:
    """Track every chunk of the partition; write one npz per chunk and the windows table.

    A chunk whose tracks file exists under the same config fingerprint is reused (files are
    written whole, atomically, so an existing file is complete).
    """
    chunks = read_partition(store, "chunks", date, station)
    videos = read_partition(store, "videos", date, station)
    uris = {v["video_id"]: v["uri"] for v in (videos.to_pylist() if videos is not None else [])}
    chunk_rows = chunks.to_pylist() if chunks is not None else []
    fp = tracking_fingerprint(video, windows, tracking)
    rows: list[dict] = []
    reused = 0
    for n, chunk in enumerate(chunk_rows):
        key = tracks_key(fp, date, station, chunk["video_id"], chunk["chunk_index"])
        if store.exists(key):
            with store.local_path(key) as p:
                tracks = load_tracks(p)
            reused += 1
        else:
            with open_video_uri(uris[chunk["video_id"]]) as vpath:
                tracks = track_chunk(vpath, chunk, video, windows, tracking)
            with store.writer_path(key, suffix=".npz") as tmp:
                save_tracks(tracks, tmp, meta={"chunk_id": chunk["chunk_id"], "fingerprint": fp})
        rows.extend(_window_rows(tracks, chunk, key, windows))
        if on_chunk:
            on_chunk(n + 1, len(chunk_rows))
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
    return StageSummary(
        rows={"windows": len(rows)},
        keys={"windows": key},
        extra={
            "chunks": len(chunk_rows),
            "reused_chunks": reused,
            "gated_windows": gated,
            "camera_compensated_windows": comp,
            "tracking_fingerprint": fp,
        },
    )
