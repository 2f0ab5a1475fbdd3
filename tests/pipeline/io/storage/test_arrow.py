"""pyarrow reads (and writes) through ``Storage.arrow_filesystem()`` on both backends."""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from pipeline.io.storage import Storage

TABLE = "tables/segments"


def parquet_bytes(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


def test_hive_dataset_round_trip(store: Storage) -> None:
    parts = {"a": [1, 2, 3], "b": [10, 20]}
    for station, ids in parts.items():
        key = f"{TABLE}/date=2026-01-01/station={station}/part-0.parquet"
        store.write_bytes(key, parquet_bytes(pa.table({"id": pa.array(ids, pa.int64())})))
    # a crashed writer's temp file must not be picked up by dataset discovery
    with pytest.raises(RuntimeError), store.writer_path(f"{TABLE}/date=2026-01-01/x.parquet") as t:
        t.write_bytes(b"garbage")
        raise RuntimeError("crash")

    fs, base = store.arrow_filesystem()
    dataset = ds.dataset(f"{base}/{TABLE}", filesystem=fs, format="parquet", partitioning="hive")
    table = dataset.to_table().sort_by("id")
    assert table.column("id").to_pylist() == [1, 2, 3, 10, 20]
    assert set(table.column("station").to_pylist()) == {"a", "b"}
    assert set(table.column("date").cast(pa.string()).to_pylist()) == {"2026-01-01"}
    only_b = dataset.to_table(filter=ds.field("station") == "b")
    assert sorted(only_b.column("id").to_pylist()) == [10, 20]


def test_arrow_writes_are_visible_to_storage(store: Storage) -> None:
    fs, base = store.arrow_filesystem()
    table = pa.table({"x": pa.array(range(1000), pa.int32())})
    fs.create_dir(f"{base}/direct")
    pq.write_table(table, f"{base}/direct/t.parquet", filesystem=fs)
    assert [i.key for i in store.list("direct/")] == ["direct/t.parquet"]
    back = pq.read_table(io.BytesIO(store.read_bytes("direct/t.parquet")))
    assert back.equals(table)
