"""The published Parquet dataset: one row per published segment (``publish/dataset/...``).

zstd Parquet, explicit Arrow schema ``DATASET`` with ``schema_version`` in the metadata, hive
folders ``date=D/station=S`` (the hive columns come from the path and are not stored, as in
``pipeline.io.tables``). Every row carries ``fps``, ``window_frames``, ``stride_frames``,
``codebook_size``, ``fsq_levels`` and ``tokenizer_version`` (docs/formats.md). ``cluster_id``,
``cluster_name`` and ``library_version`` come from the ``segment_clusters`` table and
``instruction`` from ``segment_labels``; each is null when that stage has not produced it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from pipeline.io import keys as layout
from pipeline.io.storage import Storage
from pipeline.io.tables import to_arrow
from pipeline.publish.records import SegmentRecord
from pipeline.publish.shards import parquet_bytes

log = logging.getLogger(__name__)

DATASET_VERSION = 2  # v2: cluster_name, library_version

# (name, type, nullable, description): the schema and the card's schema table
DATASET_FIELDS: tuple[tuple[str, pa.DataType, bool, str], ...] = (
    ("segment_id", pa.string(), False, "first 32 hex of sha256(video_id|start|end|tokenizer)"),
    ("video_id", pa.string(), False, "sha256 of the source video file's bytes"),
    ("source_uri", pa.string(), False, "where the source video was read from"),
    ("file_name", pa.string(), False, "the source video's file name"),
    ("start_frame", pa.int64(), False, "first source frame of the segment (inclusive)"),
    ("end_frame", pa.int64(), False, "source frame after the segment (exclusive)"),
    ("start_sec", pa.float64(), False, "start_frame / fps"),
    ("end_sec", pa.float64(), False, "end_frame / fps"),
    ("num_frames", pa.int32(), False, "frames in the clip, end_frame - start_frame"),
    ("fps", pa.float64(), False, "source (and clip) frame rate"),
    ("target_fps", pa.float64(), False, "rate of the latent-action steps (10 = 0.1 s steps)"),
    ("window_frames", pa.int16(), False, "tokenizer window, frames at target_fps"),
    ("stride_frames", pa.int16(), False, "frames between window starts at target_fps"),
    ("fsq_levels", pa.list_(pa.int16()), False, "FSQ levels of the tokenizer"),
    ("codebook_size", pa.int32(), False, "number of codes, product of fsq_levels"),
    ("tokenizer_version", pa.string(), False, "tokenizer checkpoint that made the codes"),
    ("latent_dim", pa.int16(), False, "width of each step's latent in latent.npy"),
    ("segmenter", pa.string(), False, "segmentation method and parameter fingerprint"),
    ("num_steps", pa.int32(), False, "latent-action steps (codes) in the segment"),
    ("codes", pa.list_(pa.int16()), False, "one code per step, in [0, codebook_size)"),
    ("step_frames", pa.list_(pa.int64()), False, "source frame of each step, increasing"),
    ("shard", pa.string(), False, "file name of the WebDataset shard holding the sample"),
    ("clip_key", pa.string(), False, "the clip's key in the pipeline store"),
    ("cluster_id", pa.int32(), True, "primitive cluster id (stable across library refits)"),
    ("cluster_name", pa.string(), True, "the cluster's name (majority VLM verb, or primitive_NN)"),
    ("library_version", pa.string(), True, "primitive library the cluster comes from"),
    ("instruction", pa.string(), True, "VLM instruction (untrusted plain text; null without one)"),
)
DATASET = pa.schema([pa.field(n, t, nullable=nl) for n, t, nl, _ in DATASET_FIELDS])
HIVE_FIELDS = (
    ("date", "string (hive folder)", "partition date, YYYY-MM-DD"),
    ("station", "string (hive folder)", "camera / workstation"),
)


def dataset_rows(
    records: Sequence[SegmentRecord], shard_of: Mapping[str, str]
) -> list[dict[str, Any]]:
    """Rows of the published records (those with a shard), in record order."""
    names = DATASET.names
    rows = []
    for rec in records:
        shard = shard_of.get(rec.segment_id)
        if shard is None:
            continue
        row = {k: v for k, v in rec.meta.items() if k in names}
        row.update(codes=rec.steps.codes.tolist(), shard=shard, clip_key=rec.clip_key)
        rows.append(row)
    return rows


def write_dataset(
    store: Storage,
    date: str,
    station: str,
    rows: Sequence[Mapping[str, Any]],
    *,
    metadata: Mapping[str, str] | None = None,
) -> str:
    """Atomically replace the partition's Parquet file; returns its key."""
    table = to_arrow(rows, DATASET)
    key = layout.dataset_key(date, station)
    store.write_bytes(key, parquet_bytes(table, DATASET_VERSION, metadata))
    log.info("wrote %s (%d rows)", store.uri(key), table.num_rows)
    return key
