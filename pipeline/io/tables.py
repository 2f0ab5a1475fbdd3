"""Parquet tables: explicit Arrow schemas, hive partitions ``date=YYYY-MM-DD/station=NAME``.

Every table is written one partition at a time, as a whole file that replaces the previous one
atomically: a rerun of the same partition produces the same rows, never duplicates, and a crashed
run leaves the previous file (or nothing) visible. Files are zstd Parquet whose metadata carries the
table's ``schema_version`` and the config that produced them.
"""

from __future__ import annotations

import datetime
import io
import json
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import StorageKeyError, TableSchemaError
from pipeline.io import schemas
from pipeline.io.keys import TABLES_PREFIX, table_key
from pipeline.io.storage import Storage

log = logging.getLogger(__name__)

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_STATION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def validate_partition(date: str, station: str) -> None:
    """Raise ``ValueError`` for a date or station name that cannot be a hive folder."""
    problems = []
    if not _DATE_RE.fullmatch(date):  # fullmatch: `$` also matches before a final \n
        problems.append(f"date {date!r} is not YYYY-MM-DD")
    else:
        try:
            datetime.date.fromisoformat(date)
        except ValueError:
            problems.append(f"date {date!r} is not a calendar date")
    if not _STATION_RE.fullmatch(station):
        problems.append(f"station {station!r} must match {_STATION_RE.pattern}")
    if problems:
        raise ValueError("; ".join(problems))


def partition_key(table: str, date: str, station: str) -> str:
    """Storage key of one partition's Parquet file (path template, never globbed for writes)."""
    validate_partition(date, station)
    return table_key(table, date, station)


def _with_metadata(schema: pa.Schema, version: int, extra: Mapping[str, Any] | None) -> pa.Schema:
    meta = {b"schema_version": str(version).encode()}
    for k, v in (extra or {}).items():
        meta[k.encode()] = (v if isinstance(v, str) else json.dumps(v, sort_keys=True)).encode()
    return schema.with_metadata(meta)


# what pyarrow raises for a value its column cannot hold (OverflowError: an int beyond int64;
# UnicodeEncodeError: a str with lone surrogates, e.g. a file name that is not UTF-8)
_BAD_VALUE = (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, UnicodeEncodeError)


def to_arrow(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> pa.Table:
    """Rows (dicts) -> Arrow table of exactly ``schema``; missing or extra columns, nulls in
    non-nullable columns and values a column cannot hold are ``TableSchemaError``s naming the
    row and column."""
    names = set(schema.names)
    required = [f.name for f in schema if not f.nullable]
    for i, row in enumerate(rows):
        missing, extra = names - set(row), set(row) - names
        if missing or extra:
            raise TableSchemaError(
                f"row {i}: missing columns {sorted(missing)}, unexpected columns {sorted(extra)}"
            )
        nulls = [n for n in required if row[n] is None]
        if nulls:
            raise TableSchemaError(f"row {i}: null in non-nullable columns {nulls}")
    try:
        return pa.Table.from_pylist(list(rows), schema=schema)
    except _BAD_VALUE as exc:
        raise TableSchemaError(f"{_first_bad_value(rows, schema)}: {exc}") from exc


def _first_bad_value(rows: Sequence[Mapping[str, Any]], schema: pa.Schema) -> str:
    """'row i, column c' of the first value its column cannot hold (only after a failure)."""
    for i, row in enumerate(rows):
        for f in schema:
            try:
                pa.array([row[f.name]], type=f.type)
            except _BAD_VALUE:
                return f"row {i}, column {f.name!r}"
    return f"{len(rows)} rows"


def write_partition(
    storage: Storage,
    table: str,
    date: str,
    station: str,
    data: pa.Table | Sequence[Mapping[str, Any]],
    *,
    schema: pa.Schema,
    schema_version: int,
    metadata: Mapping[str, Any] | None = None,
) -> str:
    """Atomically replace one partition of ``table``; returns the written key.

    The hive columns ``date`` and ``station`` are not stored in the file (they come from the
    path), so ``schema`` must not contain them.
    """
    arrow = data if isinstance(data, pa.Table) else to_arrow(data, schema)
    if arrow.schema.remove_metadata() != schema.remove_metadata():
        arrow = arrow.select(schema.names).cast(schema)
    arrow = arrow.replace_schema_metadata(_with_metadata(schema, schema_version, metadata).metadata)
    buf = io.BytesIO()
    pq.write_table(arrow, buf, compression="zstd")
    key = partition_key(table, date, station)
    storage.write_bytes(key, buf.getvalue())
    log.info("wrote %s (%d rows)", storage.uri(key), arrow.num_rows)
    return key


def read_partition(storage: Storage, table: str, date: str, station: str) -> pa.Table | None:
    """One partition's rows, or None if that partition was never written."""
    try:
        data = storage.read_bytes(partition_key(table, date, station))
    except StorageKeyError:
        return None
    return pq.read_table(io.BytesIO(data))


def list_partitions(storage: Storage, table: str) -> list[tuple[str, str]]:
    """(date, station) of every written partition of ``table``, sorted."""
    out = []
    for info in storage.list(f"{TABLES_PREFIX}/{table}/", suffixes=(".parquet",)):
        m = re.search(r"date=([^/]+)/station=([^/]+)/", info.key)
        if m:
            out.append((m.group(1), m.group(2)))
    return sorted(set(out))


def read_table(storage: Storage, table: str, *, station: str | None = None) -> pa.Table | None:
    """All partitions of ``table`` (optionally one station) with ``date``/``station`` columns."""
    parts = []
    for date, st in list_partitions(storage, table):
        if station is not None and st != station:
            continue
        t = read_partition(storage, table, date, st)
        if t is None or t.num_rows == 0:
            continue
        t = t.append_column("date", pa.array([date] * t.num_rows, pa.string()))
        t = t.append_column("station", pa.array([st] * t.num_rows, pa.string()))
        parts.append(t)
    if not parts:
        return None
    return pa.concat_tables(parts, promote_options="default")


def schema_version_of(table: pa.Table) -> int | None:
    """The ``schema_version`` stored in a table's metadata, if any."""
    meta = table.schema.metadata or {}
    raw = meta.get(b"schema_version")
    return int(raw) if raw is not None else None


def write_failures(
    storage: Storage, date: str, station: str, stage: str, rows: Sequence[Mapping[str, Any]]
) -> str:
    """Replace ``stage``'s rows of the partition's ``failures`` table with ``rows`` (other stages'
    rows are kept; stages of one partition run one after another)."""
    old = read_partition(storage, "failures", date, station)
    kept = [r for r in (old.to_pylist() if old is not None else []) if r["stage"] != stage]
    new = [{**r, "stage": stage} for r in rows]
    return write_partition(
        storage,
        "failures",
        date,
        station,
        sorted(kept + new, key=lambda r: (r["stage"], r["video_id"], r.get("item") or "")),
        schema=schemas.FAILURES,
        schema_version=schemas.FAILURES_VERSION,
    )


def failed_videos(storage: Storage, date: str, station: str, stages: Sequence[str]) -> set[str]:
    """Ids of the partition's videos that failed at any of ``stages``."""
    table = read_partition(storage, "failures", date, station)
    if table is None:
        return set()
    return {r["video_id"] for r in table.to_pylist() if r["stage"] in stages}
