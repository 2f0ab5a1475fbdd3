"""Partition-level stage functions: what a Dagster asset or a CLI command runs for one
(date, station). Each reads its inputs from the store, calls the core, writes its table(s)
atomically and returns a small summary for metadata/logging.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from pipeline.config import VideoConfig, WindowConfig
from pipeline.context import StageSummary
from pipeline.ingest.landing import (
    IngestResult,
    LandedFile,
    discover,
    ingest_files,
    not_taken,
    plan_chunks,
)
from pipeline.io import schemas
from pipeline.io.storage import Storage
from pipeline.io.tables import read_partition, read_table, write_partition

log = logging.getLogger(__name__)


def known_videos(store: Storage, *, exclude: tuple[str, str]) -> dict[str, str]:
    """video_id -> "date/station" for videos ingested in any partition except ``exclude``."""
    table = read_table(store, "videos")
    if table is None:
        return {}
    out = {}
    for vid, date, station in zip(
        table.column("video_id").to_pylist(),
        table.column("date").to_pylist(),
        table.column("station").to_pylist(),
        strict=True,
    ):
        if (date, station) != exclude:
            out[vid] = f"{date}/{station}"
    return out


def partition_files(landing: Storage, date: str, station: str) -> list[LandedFile]:
    return [f for f in discover(landing) if f.date == date and f.station == station]


def ingest_partition(
    landing: Storage,
    store: Storage,
    date: str,
    station: str,
    *,
    video: VideoConfig,
    windows: WindowConfig,
    on_file: Callable[[LandedFile], None] | None = None,
    files: list[LandedFile] | None = None,
) -> tuple[IngestResult, StageSummary]:
    """Probe every video landed for (date, station) (or the ``files`` given, e.g. a flat folder
    with no station folders); write the videos and quarantine tables."""
    files_given = files
    if files is None:
        files = partition_files(landing, date, station)
    known = known_videos(store, exclude=(date, station))
    result = ingest_files(
        landing, files, known=known, video=video, windows=windows, on_file=on_file
    )
    meta = {"video_config": video.model_dump(), "window_config": windows.model_dump()}
    left_out = not_taken(landing, date, station) if files_given is None else []
    if left_out:
        log.info("%s/%s: %d landed file(s) not taken (%s)", date, station, len(left_out),
                 ", ".join(f"{x['file']}: {x['reason']}" for x in left_out[:10]))  # fmt: skip
    summary = StageSummary(
        extra={
            "landed": len(files),
            "skipped_known": len(result.skipped_known),
            "not_taken": left_out[:100],  # hidden files, other extensions: reported, not rows
        }
    )
    for name, rows, schema, version in (
        ("videos", result.videos, schemas.VIDEOS, schemas.VIDEOS_VERSION),
        ("quarantine", result.quarantine, schemas.QUARANTINE, schemas.QUARANTINE_VERSION),
    ):
        summary.keys[name] = write_partition(
            store, name, date, station, rows, schema=schema, schema_version=version, metadata=meta
        )
        summary.rows[name] = len(rows)
    return result, summary


def chunk_partition(
    store: Storage, date: str, station: str, *, video: VideoConfig, windows: WindowConfig
) -> tuple[list[dict[str, Any]], StageSummary]:
    """Plan chunks for every video of the partition; write the chunk manifest."""
    videos = read_partition(store, "videos", date, station)
    rows: list[dict[str, Any]] = []
    if videos is not None:
        for v in videos.to_pylist():
            rows.extend(plan_chunks(v["video_id"], v["fps"], v["frame_count"], video, windows))
    meta = {"video_config": video.model_dump(), "window_config": windows.model_dump()}
    key = write_partition(
        store,
        "chunks",
        date,
        station,
        rows,
        schema=schemas.CHUNKS,
        schema_version=schemas.CHUNKS_VERSION,
        metadata=meta,
    )
    return rows, StageSummary(rows={"chunks": len(rows)}, keys={"chunks": key})
