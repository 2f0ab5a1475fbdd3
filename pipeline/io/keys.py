"""Every storage key template of the store, in one module (path templates, never globbing to
find outputs), and the one rule that names a video's outputs (its stem).

Layout of a store (local folder or ``s3://bucket/prefix``)::

    tables/<table>/date=D/station=S/part-0.parquet          every table (pipeline.io.tables)
    tracks/<fingerprint>/date=D/station=S/<vid16>-c<chunk>-p<part>.npz, ...-c<chunk>.done.json
    models/tokenizer/<version>/tokenizer.pt, loss.csv, loss.png, training.json
    models/tokenizer/current.json                            pointer to the checkpoint in use
    segments/date=D/station=S/<stem>.segments.json           one segment file per video
    clips/date=D/station=S/<vid16>/<segment_id>.mp4          one clip per segment
    plots/date=D/station=S/<stem>.energy.png                 one energy plot per video
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

TABLES_PREFIX = "tables"
PART_FILE = "part-0.parquet"
TRACKS_PREFIX = "tracks"
TOKENIZER_PREFIX = "models/tokenizer"
TOKENIZER_CURRENT = f"{TOKENIZER_PREFIX}/current.json"
SEGMENT_SUFFIX = ".segments.json"
ENERGY_PLOT_SUFFIX = ".energy.png"


def partition_dir(date: str, station: str) -> str:
    """The hive folder of one partition: ``date=D/station=S``."""
    return f"date={date}/station={station}"


def table_key(table: str, date: str, station: str) -> str:
    return f"{TABLES_PREFIX}/{table}/{partition_dir(date, station)}/{PART_FILE}"


def tracks_key(
    fingerprint: str,
    date: str,
    station: str,
    video_id: str,
    chunk_index: int,
    part: int | None = None,
) -> str:
    """One part of a chunk's tracks (``part=None``: the chunk's completion marker)."""
    base = (
        f"{TRACKS_PREFIX}/{fingerprint}/{partition_dir(date, station)}/"
        f"{video_id[:16]}-c{chunk_index:05d}"
    )
    return f"{base}.done.json" if part is None else f"{base}-p{part:03d}.npz"


def tokenizer_key(version: str, name: str) -> str:
    """A file of one trained tokenizer (``tokenizer.pt``, ``loss.csv``, ...)."""
    return f"{TOKENIZER_PREFIX}/{version}/{name}"


def segments_prefix(date: str, station: str) -> str:
    return f"segments/{partition_dir(date, station)}/"


def segment_file_key(date: str, station: str, stem: str) -> str:
    return f"{segments_prefix(date, station)}{stem}{SEGMENT_SUFFIX}"


def clips_prefix(date: str, station: str) -> str:
    return f"clips/{partition_dir(date, station)}/"


def clip_key(date: str, station: str, video_id: str, segment_id: str) -> str:
    return f"{clips_prefix(date, station)}{video_id[:16]}/{segment_id}.mp4"


def plots_prefix(date: str, station: str) -> str:
    return f"plots/{partition_dir(date, station)}/"


def energy_plot_key(date: str, station: str, stem: str) -> str:
    return f"{plots_prefix(date, station)}{stem}{ENERGY_PLOT_SUFFIX}"


def file_stem(file_name: str) -> str:
    """``"cam1/0001.mp4"`` -> ``"0001"``: the file name without folders and last suffix."""
    return PurePosixPath(file_name).stem


def video_stems(videos: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """video_id -> the stem that names the video's outputs (segment file, plot, baselines).

    The file's stem, except that a stem two videos of the partition share gets
    ``-<video_id[:8]>`` appended, so no two videos ever write the same key."""
    rows = list(videos)
    counts: dict[str, int] = {}
    for v in rows:
        stem = file_stem(v["file_name"])
        counts[stem] = counts.get(stem, 0) + 1
    out = {}
    for v in sorted(rows, key=lambda r: r["video_id"]):
        stem = file_stem(v["file_name"])
        out[v["video_id"]] = stem if counts[stem] == 1 else f"{stem}-{v['video_id'][:8]}"
    return out
