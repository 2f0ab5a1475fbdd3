"""Round trips of the writers through the real readers (pyarrow, json, webdataset).

Arbitrary valid rows (every Unicode scalar and names escaped as the code stores them, the full
integer ranges, extreme floats with inf/NaN, empty lists, int16 codes) come back equal; invalid
rows are refused with the writer's own error and leave the previous file untouched.
"""

from __future__ import annotations

import io
import json
import math
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import webdataset as wds
from hypothesis import example, given, settings
from hypothesis import strategies as st
from property.strategies import (
    row_strategy,
    rows_strategy,
    same_rows,
    segmentations,
    value_strategy,
)
from pydantic import ValidationError

from pipeline.errors import SegmentFileError, TableSchemaError
from pipeline.io import keys as layout
from pipeline.io import schemas
from pipeline.io.storage import LocalStorage
from pipeline.io.tables import (
    read_partition,
    read_table,
    schema_version_of,
    to_arrow,
    write_partition,
)
from pipeline.publish.dataset import DATASET, DATASET_VERSION, write_dataset
from pipeline.publish.jsonl import LatentActionStep, read_steps, record_steps, write_steps
from pipeline.publish.records import SegmentRecord, SegmentSteps
from pipeline.publish.shards import (
    SIDECAR,
    SIDECAR_VERSION,
    Sample,
    json_bytes,
    npy_bytes,
    parquet_bytes,
    tar_size,
    write_shards,
)
from pipeline.segments.segfile import (
    SegmentFile,
    parse_segments,
    read_segments,
    write_segments,
)

D, S = "2026-03-01", "st1"

TABLES = sorted(
    name.lower()
    for name, value in vars(schemas).items()
    if isinstance(value, pa.Schema) and hasattr(schemas, f"{name}_VERSION")
)


# the table tests run once per schema: a third of the profile's examples each
PER_TABLE = max(10, settings.default.max_examples // 3)


def _schema(table: str) -> tuple[pa.Schema, int]:
    return getattr(schemas, table.upper()), getattr(schemas, f"{table.upper()}_VERSION")


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> LocalStorage:
    """One store per test module: each example replaces the same partition."""
    return LocalStorage(tmp_path_factory.mktemp("store"))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False)
    | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner,
                                                                max_size=3),
    max_leaves=10,
)  # fmt: skip


# --- tables (pipeline.io.tables + pipeline.io.schemas) --------------------------------------
def test_every_table_schema_is_covered():
    assert {"videos", "chunks", "quarantine", "windows", "codes", "energy", "segments"} <= set(
        TABLES
    )


@pytest.mark.parametrize("table", TABLES)
@settings(max_examples=PER_TABLE)
@given(data=st.data())
def test_table_rows_round_trip(store, table, data):
    schema, version = _schema(table)
    rows = data.draw(rows_strategy(schema), label="rows")
    meta = data.draw(st.dictionaries(st.text("abcxyz_", min_size=1, max_size=8), json_values,
                                     max_size=3), label="metadata")  # fmt: skip
    write_partition(store, table, D, S, rows, schema=schema, schema_version=version, metadata=meta)
    back = read_partition(store, table, D, S)
    assert back is not None and back.schema.remove_metadata() == schema.remove_metadata()
    assert same_rows(back.to_pylist(), rows)
    assert schema_version_of(back) == version
    stored = back.schema.metadata
    for k, v in meta.items():
        raw = stored[k.encode()].decode()
        assert (raw if isinstance(v, str) else json.loads(raw)) == v or v != v
    # the same file through pyarrow's own reader, and the store-wide reader with hive columns
    with store.local_path(layout.table_key(table, D, S)) as path:
        assert same_rows(pq.read_table(path).to_pylist(), rows)
    whole = read_table(store, table)
    if rows:
        assert whole is not None
        assert same_rows(whole.to_pylist(), [{**r, "date": D, "station": S} for r in rows])


def _bad_rows(schema: pa.Schema, row: dict, data) -> tuple[str, list[dict]]:
    """One way a row can be invalid, and the rows that contain it."""
    kinds = ["missing", "extra", "wrong_type"]
    non_null = [f for f in schema if not f.nullable]
    if non_null:
        kinds.append("null")
    ints = [f for f in schema if pa.types.is_integer(f.type)]
    if ints:
        kinds.append("int_range")
    strings = [f for f in schema if pa.types.is_string(f.type)]
    if strings:
        kinds.append("surrogate")
    kind = data.draw(st.sampled_from(kinds), label="kind")
    bad = dict(row)
    if kind == "missing":
        del bad[data.draw(st.sampled_from(schema.names))]
    elif kind == "extra":
        bad["not_a_column"] = 1
    elif kind == "wrong_type":
        f = data.draw(st.sampled_from(list(schema)))
        bad[f.name] = {"a": object()} if not pa.types.is_string(f.type) else [object()]
    elif kind == "null":
        bad[data.draw(st.sampled_from(non_null)).name] = None
    elif kind == "int_range":
        f = data.draw(st.sampled_from(ints))
        bad[f.name] = data.draw(st.sampled_from([2 ** (f.type.bit_width - 1), -(2**70)]))
    else:  # a name as Python decodes bytes that are not UTF-8, written raw (not escaped)
        bad[data.draw(st.sampled_from(strings)).name] = "take\udcff.mp4"
    before = [data.draw(row_strategy(schema)) for _ in range(data.draw(st.integers(0, 2)))]
    return kind, [*before, bad]


@pytest.mark.parametrize("table", TABLES)
@settings(max_examples=PER_TABLE)
@given(data=st.data())
def test_invalid_rows_are_refused_and_leave_the_old_file(store, table, data):
    schema, version = _schema(table)
    good = data.draw(rows_strategy(schema, max_rows=2), label="good")
    key = write_partition(store, table, D, S, good, schema=schema, schema_version=version)
    before = store.read_bytes(key)
    kind, bad = _bad_rows(schema, data.draw(row_strategy(schema)), data)
    with pytest.raises(TableSchemaError) as err:
        write_partition(store, table, D, S, bad, schema=schema, schema_version=version)
    assert f"row {len(bad) - 1}" in str(err.value), (kind, str(err.value))
    assert store.read_bytes(key) == before


# --- the published Parquet dataset and the shard sidecars -----------------------------------
@given(rows_strategy(DATASET), st.dictionaries(st.text("abc", min_size=1), st.text(), max_size=2))
def test_dataset_rows_round_trip(store, rows, meta):
    key = write_dataset(store, D, S, rows, metadata=meta)
    table = pq.read_table(io.BytesIO(store.read_bytes(key)))
    assert same_rows(table.to_pylist(), rows)
    assert schema_version_of(table) == DATASET_VERSION
    assert {
        k.encode(): v.encode() for k, v in meta.items()
    }.items() <= table.schema.metadata.items()


@given(rows_strategy(SIDECAR))
def test_sidecar_rows_round_trip(rows):
    table = pq.read_table(io.BytesIO(parquet_bytes(to_arrow(rows, SIDECAR), SIDECAR_VERSION)))
    assert same_rows(table.to_pylist(), rows)


# --- WebDataset shards --------------------------------------------------------------------
@st.composite
def samples(draw) -> list[Sample]:
    n = draw(st.integers(1, 8))
    out = []
    for i in range(n):
        key = f"{draw(st.integers(0, 2**128 - 1)):032x}"
        if draw(st.integers(0, 5)) == 0:
            out.append(Sample(key, "v" * 64, i, i + 1, None, "skipped: no_clip"))
            continue
        codes = np.asarray(draw(st.lists(value_strategy(pa.int16()), max_size=6)), dtype="<i2")
        seed = draw(st.integers(0, 2**32 - 1))
        latent = np.random.default_rng(seed).normal(0, 1e3, (codes.size, 2)).astype("<f2")
        meta = {"segment_id": key, "file_name": draw(value_strategy(pa.string())),
                "start_sec": draw(st.floats(allow_nan=False, allow_infinity=False))}  # fmt: skip
        members = {
            "codes.npy": npy_bytes(codes),
            "json": json_bytes(meta),
            "latent.npy": npy_bytes(latent),
            "mp4": draw(st.binary(max_size=3000)),
        }
        out.append(Sample(key, "v" * 64, i, i + 1, members))
    keys = [s.key for s in out]
    return [s for i, s in enumerate(out) if s.key not in keys[:i]]


@given(samples(), st.integers(1, 4), st.integers(1, 12000))
def test_shards_read_back_with_webdataset(items, maxcount, maxsize):
    with tempfile.TemporaryDirectory() as tmp:
        store = LocalStorage(Path(tmp) / "store")
        res = write_shards(store, D, S, items, maxcount=maxcount, maxsize=maxsize)
        urls = [store.uri(s.key) for s in res.shards]
        got = list(wds.WebDataset(urls, shardshuffle=False, empty_check=False)) if urls else []
        kept = [s for s in items if s.members is not None]
        assert [g["__key__"] for g in got] == [s.key for s in kept]
        assert all("." not in s.key for s in kept)
        for g, s in zip(got, kept, strict=True):
            for member, data in s.members.items():
                assert g[member] == data
            assert json.loads(g["json"]) == json.loads(s.members["json"])
            assert np.array_equal(
                np.load(io.BytesIO(g["codes.npy"])), np.load(io.BytesIO(s.members["codes.npy"]))
            )
        by_shard: dict[str, list[Sample]] = {}
        for s in kept:
            by_shard.setdefault(res.shard_of[s.key], []).append(s)
        for info in res.shards:
            members = by_shard[info.name]
            assert len(members) == info.samples <= maxcount
            assert len(members) == 1 or sum(tar_size(m.members) for m in members) <= maxsize
        assert {s.key for s in res.skipped} == {s.key for s in items if s.members is None}


# --- latent-action JSONL ------------------------------------------------------------------
@st.composite
def segment_records(draw) -> SegmentRecord:
    start = draw(st.integers(0, 10**6))
    n = draw(st.integers(0, 6))
    gaps = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    source = start + np.cumsum([0, *gaps[1:]]).astype(np.int64) if n else np.zeros(0, np.int64)
    end = int(source[-1]) + draw(st.integers(1, 5)) if n else start + 1
    nxt = np.minimum(np.append(source[1:], end), end - 1).astype(np.int64)
    codes = np.asarray(draw(st.lists(st.integers(0, 2**15 - 1), min_size=n, max_size=n)), np.int16)
    sid = f"{draw(st.integers(0, 2**128 - 1)):032x}"
    steps = SegmentSteps(
        steps=np.arange(n, dtype=np.int64),
        source_frames=source,
        next_frames=nxt,
        codes=codes,
        latent=np.zeros((n, 2), np.float32),
    )
    meta = {"segment_id": sid, "video_id": draw(value_strategy(pa.string())) or "v",
            "start_frame": start}  # fmt: skip
    return SegmentRecord(meta=meta, steps=steps, clip_key=f"clips/x/{sid}.mp4")


@given(st.lists(segment_records(), max_size=4, unique_by=lambda r: r.segment_id))
def test_jsonl_steps_round_trip(store, records):
    shard_of = {r.segment_id: "clips-000000.tar" for r in records}
    key, n_lines = write_steps(store, D, S, records, shard_of)
    data = store.read_bytes(key)
    expected = [step for r in records for step in record_steps(r, shard_of[r.segment_id])]
    assert n_lines == len(expected) == sum(int(r.steps.codes.size) for r in records)
    assert read_steps(data) == expected
    # lines end at \n only: JSON keeps U+0085 and U+2028 raw, which str.splitlines() splits at
    plain = [json.loads(line) for line in data.decode("utf-8").split("\n") if line]
    assert plain == [s.model_dump() for s in expected]
    for line, r_step in zip(plain, expected, strict=True):
        assert line["frame"]["source"] - line["frame"]["clip"] == (
            line["frame"]["source_next"] - line["frame"]["clip_next"]
        )
        assert r_step.id == f"{r_step.segment_id}-{r_step.step:04d}"


_STEP = {
    "id": "0" * 32 + "-0001",
    "segment_id": "0" * 32,
    "video_id": "v",
    "clip_key": "c.mp4",
    "shard": "clips-000000.tar",
    "step": 1,
    "frame": {"clip": 1, "clip_next": 2, "source": 11, "source_next": 12},
    "codes": [3],
    "instruction": None,
}


@pytest.mark.parametrize(
    "change",
    [
        {"codes": [-1]},
        {"codes": []},
        {"id": "0" * 32 + "-0002"},
        {"segment_id": "X" * 32},
        {"shard": "clips-1.tar"},
        {"frame": {"clip": 2, "clip_next": 1, "source": 12, "source_next": 11}},
        {"frame": {"clip": 1, "clip_next": 2, "source": 11, "source_next": 13}},
        {"extra": 1},
    ],
)
def test_invalid_jsonl_lines_are_refused(change):
    LatentActionStep.model_validate(_STEP)
    with pytest.raises(ValidationError):
        read_steps(json.dumps({**_STEP, **change}).encode())


# --- segment files ------------------------------------------------------------------------
@st.composite
def segment_files(draw) -> SegmentFile:
    segs, d = draw(segmentations(contiguous=draw(st.booleans())))
    scale = draw(st.sampled_from([1.0, 1e-3, 1e3, 1 / 3]))
    labels = draw(st.lists(st.none() | value_strategy(pa.string()), min_size=len(segs),
                           max_size=len(segs)))  # fmt: skip
    segs = [type(s)(s.start_sec * scale, s.end_sec * scale, lab)
            for s, lab in zip(segs, labels, strict=True)]  # fmt: skip
    video = draw(st.text(min_size=1, max_size=20))  # lone surrogates too: JSON escapes them
    fps = draw(st.floats(1e-3, 1e4))
    meta = draw(st.dictionaries(st.text(max_size=5), json_values, max_size=3))
    return SegmentFile(video, fps, d * scale, tuple(segs), meta)


@given(segment_files())
def test_segment_files_round_trip(segfile):
    with tempfile.TemporaryDirectory() as tmp:
        path = write_segments(Path(tmp) / "v.segments.json", segfile)
        back = read_segments(path)
        raw = json.loads(path.read_text(encoding="utf-8"))
        assert sorted(p.name for p in Path(tmp).iterdir()) == ["v.segments.json"]
    assert back == segfile
    assert raw["segments"] == [
        {"start_sec": s.start_sec, "end_sec": s.end_sec}
        | ({"label": s.label} if s.label is not None else {})
        for s in segfile.segments
    ]


@given(st.one_of(json_values, st.fixed_dictionaries(
    {"video": json_values, "fps": json_values, "duration_sec": json_values,
     "segments": st.lists(st.dictionaries(
         st.sampled_from(["start_sec", "end_sec", "label", "x"]), json_values), max_size=4)},
    optional={"meta": json_values})))  # fmt: skip
@example({"video": "v", "fps": 10**400, "duration_sec": 1.0, "segments": []})
@example({"video": "v", "fps": 10.0, "duration_sec": 1.0,
          "segments": [{"start_sec": 0, "end_sec": -(10**400)}]})  # fmt: skip
def test_parse_segments_raises_only_segment_file_error(data):
    """Any decoded JSON is a valid segment file or one ``SegmentFileError``."""
    try:
        segfile = parse_segments(data, "x.segments.json")
    except SegmentFileError as err:
        assert err.problems and "x.segments.json" in str(err)
        return
    assert segfile.fps > 0 and math.isfinite(segfile.duration_sec)


@given(st.binary(max_size=200))
@example(b'{"video": "v\xff", "fps": 1, "duration_sec": 1, "segments": []}')
@example(b"\xef\xbb\xbf{}")
@example(b'{"video": "v", "fps": 1' + b"0" * 5000 + b', "duration_sec": 1, "segments": []}')
@example(b"[" * 100_000)
def test_read_segments_of_any_bytes_raises_only_segment_file_error(data):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "x.segments.json"
        path.write_bytes(data)
        try:
            read_segments(path)
        except SegmentFileError as err:
            assert str(path) in str(err)
