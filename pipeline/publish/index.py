"""The per-partition shard index: which shards exist, their samples, bytes and sha256.

- ``shards/date=D/station=S/index.parquet``: one row per shard (``SHARD_INDEX``), for DuckDB /
  pyarrow and the asset checks;
- ``shards/date=D/station=S/index.json``: the same shards plus totals, every skipped segment
  with its reason, and the config that produced them (nothing is dropped silently).

Both are written after every shard of the partition is uploaded; then the partition's shard
folder is pruned of files this run did not write (shards of an earlier, larger run).
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Mapping
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import StorageKeyError
from pipeline.io import keys as layout
from pipeline.io.storage import Storage
from pipeline.publish.shards import ShardsResult, parquet_bytes

log = logging.getLogger(__name__)

SHARD_INDEX_VERSION = 1
SHARD_INDEX = pa.schema(
    [
        pa.field("shard", pa.string(), nullable=False),  # file name, clips-000000.tar
        pa.field("samples", pa.int32(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),  # of the whole tar file
    ]
)


def index_rows(result: ShardsResult) -> list[dict[str, Any]]:
    return [
        {"shard": s.name, "samples": s.samples, "bytes": s.bytes, "sha256": s.sha256}
        for s in result.shards
    ]


def skipped_rows(result: ShardsResult) -> list[dict[str, Any]]:
    return [
        {
            "segment_id": s.key,
            "video_id": s.video_id,
            "start_frame": s.start_frame,
            "end_frame": s.end_frame,
            "reason": s.status.removeprefix("skipped: "),
        }
        for s in result.skipped
    ]


def write_shard_index(
    store: Storage, date: str, station: str, result: ShardsResult, config: Mapping[str, Any]
) -> dict[str, str]:
    """Write ``index.parquet`` and ``index.json`` of the partition; returns their keys."""
    rows = index_rows(result)
    table = pa.Table.from_pylist(rows, schema=SHARD_INDEX)
    pq_key = layout.shard_index_key(date, station)
    store.write_bytes(pq_key, parquet_bytes(table, SHARD_INDEX_VERSION))
    manifest = {
        "schema_version": SHARD_INDEX_VERSION,
        "date": date,
        "station": station,
        "samples": result.samples,
        "bytes": result.bytes,
        "shards": rows,
        "skipped": skipped_rows(result),
        "publish_config": dict(config),
    }
    json_key = layout.shard_manifest_key(date, station)
    store.write_bytes(json_key, (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode())
    return {"shard_index": pq_key, "shard_manifest": json_key}


def read_shard_index(store: Storage, date: str, station: str) -> pa.Table | None:
    """The partition's ``index.parquet``, or None if the partition was never published."""
    try:
        data = store.read_bytes(layout.shard_index_key(date, station))
    except StorageKeyError:
        return None
    return pq.read_table(io.BytesIO(data))


def prune_shards(store: Storage, date: str, station: str, keep: set[str]) -> list[str]:
    """Delete files in the partition's shard folder that are not in ``keep``; returns them."""
    prefix = layout.publish_prefix(layout.SHARDS_DIR, date, station)
    stale = [i.key for i in store.list(prefix) if i.key not in keep]
    for key in stale:
        store.delete(key, missing_ok=True)
    if stale:
        log.info("removed %d stale shard files under %s/%s", len(stale), store.root, prefix)
    return stale
