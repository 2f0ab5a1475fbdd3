"""The publish asset checks: each passes on a real published partition and fails on a broken one."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.io import keys as layout
from pipeline.io.tables import read_partition
from pipeline.publish import checks
from pipeline.publish.index import read_shard_index
from pipeline.publish.stage import publish_partition


@pytest.fixture(scope="module")
def good(published, parts):
    store = published.store
    return {
        "segments": read_partition(store, "segments", *parts.a),
        "dataset": pq.read_table(store.uri(layout.dataset_key(*parts.a))),
        "index": read_shard_index(store, *parts.a),
    }


def _replace(table: pa.Table, name: str, values: list) -> pa.Table:
    i = table.schema.get_field_index(name)
    return table.set_column(i, table.schema.field(i), pa.array(values, table.schema.field(i).type))


def test_all_checks_pass_on_a_published_partition(published, parts):
    results = checks.partition_checks(published.store, *parts.a)
    assert set(results) == set(checks.CHECK_NAMES)
    assert all(r.passed for r in results.values()), results
    passed, description, metadata = results["sample_count"]  # a plain (bool, str, dict) tuple
    assert passed and "samples" in description and metadata["samples"] > 0


def test_unpublished_partition_fails(fresh_store, parts):
    results = checks.partition_checks(fresh_store, *parts.a)
    assert not results["sample_count"].passed and not results["code_range"].passed


def test_sample_count(good):
    assert checks.check_sample_count(good["segments"], good["index"]).passed
    samples = good["index"]["samples"].to_pylist()
    fewer = _replace(good["index"], "samples", [n - 1 for n in samples])
    result = checks.check_sample_count(good["segments"], fewer)
    assert not result.passed and result.metadata["samples"] < result.metadata["segments_with_clip"]
    assert not checks.check_sample_count(good["segments"], None).passed


def test_unique_ids(good):
    dataset = good["dataset"]
    assert checks.check_unique_ids(dataset, ["a-0000", "a-0001"]).passed
    doubled = pa.concat_tables([dataset, dataset.slice(0, 1)])
    result = checks.check_unique_ids(doubled)
    assert not result.passed
    assert result.metadata["duplicate_segment_ids"] == [dataset["segment_id"][0].as_py()]
    assert not checks.check_unique_ids(dataset, ["a-0000", "a-0000"]).passed


def test_code_range(good):
    dataset = good["dataset"]
    assert checks.check_code_range(dataset).passed
    codes = dataset["codes"].to_pylist()
    size = dataset["codebook_size"][0].as_py()
    for bad in (size, -1):
        broken = _replace(dataset, "codes", [[bad, *codes[0][1:]], *codes[1:]])
        result = checks.check_code_range(broken)
        assert not result.passed and result.metadata["bad_segments"][0]["codes"] == [bad]


def test_step_frames(good):
    dataset = good["dataset"]
    assert checks.check_step_frames(dataset).passed
    frames = dataset["step_frames"].to_pylist()
    row = next(i for i, f in enumerate(frames) if len(f) >= 2)
    start, end = dataset["start_frame"][row].as_py(), dataset["end_frame"][row].as_py()
    for bad in (frames[row][::-1], [*frames[row][:-1], end], [start - 1, *frames[row][1:]],
                frames[row][:-1]):  # fmt: skip
        broken = _replace(dataset, "step_frames", [*frames[:row], bad, *frames[row + 1 :]])
        result = checks.check_step_frames(broken)
        assert not result.passed, bad
        first_bad = result.metadata["bad_segments"][0]["segment_id"]
        assert first_bad == dataset["segment_id"][row].as_py()


def test_shards_indexed(fresh_store, parts):
    publish_partition(fresh_store, *parts.a, parts.cfg)
    assert checks.check_shards_indexed(fresh_store, *parts.a).passed
    index = read_shard_index(fresh_store, *parts.a).to_pylist()
    first = layout.shard_key(*parts.a, index[0]["shard"])
    data = fresh_store.read_bytes(first)

    fresh_store.write_bytes(first, data[:-1] + bytes([data[-1] ^ 1]))  # same size, other bytes
    result = checks.check_shards_indexed(fresh_store, *parts.a)
    assert not result.passed and "sha256" in result.metadata["problems"][0]
    fresh_store.write_bytes(first, data)

    stray = layout.shard_key(*parts.a, "clips-000099.tar")
    fresh_store.write_bytes(stray, data)
    result = checks.check_shards_indexed(fresh_store, *parts.a)
    assert not result.passed and "not in the index" in result.metadata["problems"][0]
    fresh_store.delete(stray)

    fresh_store.delete(first)
    result = checks.check_shards_indexed(fresh_store, *parts.a)
    assert not result.passed and "not stored" in result.metadata["problems"][0]
