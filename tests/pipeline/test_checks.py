"""The structural and row-count checks on a real segmented store, then on broken copies of it
(each check made to fail by bad rows or bad files)."""

import io
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline import checks
from pipeline.io import schemas
from pipeline.io.storage import open_storage
from pipeline.io.tables import partition_key, read_partition, write_failures, write_partition

STAGE_CHECKS = {
    "videos": (checks.videos_checks, checks.VIDEO_CHECKS),
    "chunks": (checks.chunks_checks, checks.CHUNK_CHECKS),
    "windows": (checks.tracks_checks, checks.TRACK_CHECKS),
    "codes": (checks.codes_checks, checks.CODE_CHECKS),
    "energy": (checks.energy_checks, checks.ENERGY_CHECKS),
    "segments": (checks.segments_checks, checks.SEGMENT_CHECKS),
}
SCHEMAS = {"videos": (schemas.VIDEOS, schemas.VIDEOS_VERSION),
           "chunks": (schemas.CHUNKS, schemas.CHUNKS_VERSION),
           "windows": (schemas.WINDOWS, schemas.WINDOWS_VERSION),
           "codes": (schemas.CODES, schemas.CODES_VERSION),
           "segments": (schemas.SEGMENTS, schemas.SEGMENTS_VERSION)}  # fmt: skip


@pytest.fixture()
def store(segmented_store, tmp_path):
    shutil.copytree(segmented_store, tmp_path / "store")
    return open_storage(tmp_path / "store")


def _rows(store, table, part):
    return read_partition(store, table, *part).to_pylist()


def _write(store, table, part, rows, *, version=None):
    schema, current = SCHEMAS[table]
    write_partition(store, table, *part, rows, schema=schema,
                    schema_version=current if version is None else version)  # fmt: skip


def _failed(found):
    return {name for name, c in found.items() if not c.passed}


def test_every_check_passes_on_the_segmented_store(segmented_store, parts):
    store = open_storage(segmented_store)
    for part in parts.all:
        for table, (run, names) in STAGE_CHECKS.items():
            found = run(store, *part)
            assert set(found) == set(names)
            assert not _failed(found), (table, {k: v.description for k, v in found.items()})
        clips = checks.clip_checks(store, *part, sample=100)
        assert not _failed(clips), {k: v.description for k, v in clips.items()}
        sampled = clips["clips_decode"].metadata["sampled"]
        assert sampled == len(_rows(store, "segments", part)) > 0


def test_a_missing_table_fails_every_check(tmp_path, parts):
    store = open_storage(tmp_path / "empty")
    for run, names in STAGE_CHECKS.values():
        found = run(store, *parts.a)
        assert _failed(found) == set(names)
        assert "no " in next(iter(found.values())).description


def test_an_old_schema_version_fails(store, parts):
    _write(store, "videos", parts.a, _rows(store, "videos", parts.a), version=1)
    found = checks.videos_checks(store, *parts.a)
    assert _failed(found) == {"schema_version"}
    expected = f"schema_version 1 in the file, expected {schemas.VIDEOS_VERSION}"
    assert found["schema_version"].description == expected
    assert not _failed(checks.videos_checks(store, *parts.b))


def test_duplicate_rows_fail_unique_ids_and_row_counts(store, parts):
    videos = _rows(store, "videos", parts.a)
    _write(store, "videos", parts.a, [*videos, videos[0]])
    assert _failed(checks.videos_checks(store, *parts.a)) == {"unique_video_ids"}
    chunks = _rows(store, "chunks", parts.a)
    _write(store, "chunks", parts.a, [*chunks, chunks[0]])
    found = checks.chunks_checks(store, *parts.a)
    assert {"unique_chunk_ids", "windows_contiguous", "monotonic_times"} <= _failed(found)
    windows = _rows(store, "windows", parts.a)
    _write(store, "windows", parts.a, [*windows, windows[3]])
    found = checks.tracks_checks(store, *parts.a)
    assert _failed(found) == {"unique_windows", "window_index_contiguous", "monotonic_times",
                              "every_chunk_tracked"}  # fmt: skip
    segments = _rows(store, "segments", parts.a)
    _write(store, "segments", parts.a, [*segments, segments[0]])
    found = checks.segments_checks(store, *parts.a)
    assert {"unique_segment_ids", "segments_ordered"} <= _failed(found)
    assert found["unique_segment_ids"].metadata["examples"] == [segments[0]["segment_id"]]


def test_a_missing_chunk_fails_the_count_against_the_videos_table(store, parts):
    chunks = _rows(store, "chunks", parts.a)
    videos = {v["video_id"]: v for v in _rows(store, "videos", parts.a)}
    first = chunks[0]["video_id"]
    _write(store, "videos", parts.a, [{**v, "num_windows": v["num_windows"] + 1}
                                      if k == first else v for k, v in videos.items()])  # fmt: skip
    found = checks.chunks_checks(store, *parts.a)
    assert _failed(found) == {"chunks_cover_videos"}
    assert found["chunks_cover_videos"].metadata["examples"][0].startswith(first[:16])


def test_window_gaps_and_backward_times_fail(store, parts):
    windows = _rows(store, "windows", parts.a)
    _write(store, "windows", parts.a, [w for w in windows if w["window_index"] != 2])
    found = checks.tracks_checks(store, *parts.a)
    assert _failed(found) == {"window_index_contiguous", "every_chunk_tracked"}
    backward = [{**w, "start_sec": -w["start_sec"]} if w is windows[1] else w for w in windows]
    _write(store, "windows", parts.a, backward)
    assert _failed(checks.tracks_checks(store, *parts.a)) == {"monotonic_times"}


def test_a_dropped_tail_of_windows_fails_unless_the_video_failed(store, parts):
    windows = _rows(store, "windows", parts.a)
    last = max(windows, key=lambda w: (w["video_id"], w["window_index"]))
    _write(store, "windows", parts.a, [w for w in windows if w is not last])
    found = checks.tracks_checks(store, *parts.a)
    assert _failed(found) == {"every_chunk_tracked"}  # the gap is at the end: still contiguous
    chunk = last["chunk_index"]
    assert found["every_chunk_tracked"].metadata["examples"][0].startswith(
        f"{last['video_id'][:16]}/c{chunk}: "
    )
    failure = {"video_id": last["video_id"], "uri": "u", "file_name": "f", "item": None,
               "reason": "decode_failed", "detail": "test"}  # fmt: skip
    write_failures(store, *parts.a, "tracks", [failure])
    assert not _failed(checks.tracks_checks(store, *parts.a))


def test_nulls_in_a_non_nullable_column_fail(store, parts):
    """A file written by another writer (nullable columns) with a null where none may be."""
    table = read_partition(store, "videos", *parts.a)
    nullable = pa.schema([f.with_nullable(True) for f in table.schema]).with_metadata(
        table.schema.metadata
    )
    codec = pa.array([None] * table.num_rows, pa.string())
    bad = table.cast(nullable).set_column(table.schema.get_field_index("codec"), "codec", codec)
    buf = io.BytesIO()
    pq.write_table(bad, buf)
    store.write_bytes(partition_key("videos", *parts.a), buf.getvalue())
    found = checks.videos_checks(store, *parts.a)
    assert _failed(found) == {"no_nulls"}
    assert found["no_nulls"].metadata["examples"] == [f"codec: {table.num_rows} nulls"]


def test_codes_out_of_range_and_missing_codes_fail(store, parts):
    codes = _rows(store, "codes", parts.a)
    bad = [{**r, "codes": [r["codebook_size"], *r["codes"][1:]]} if i == 0 else r
           for i, r in enumerate(codes)]  # fmt: skip
    _write(store, "codes", parts.a, bad)
    assert _failed(checks.codes_checks(store, *parts.a)) == {"token_range"}
    windows = _rows(store, "windows", parts.a)
    gated = {(w["video_id"], w["window_index"]) for w in windows if w["gated"]}
    active = next(r for r in codes if (r["video_id"], r["window_index"]) not in gated)
    _write(store, "codes", parts.a, [r for r in codes if r is not active])
    found = checks.codes_checks(store, *parts.a)
    assert _failed(found) == {"every_window_has_codes"}
    assert found["every_window_has_codes"].metadata["examples"] == [
        f"{active['video_id'][:16]}/w{active['window_index']}: no codes"
    ]
    # codes of a window the windows table does not have
    _write(store, "codes", parts.a, [*codes, {**codes[0], "window_index": 10_000}])
    assert "every_window_has_codes" in _failed(checks.codes_checks(store, *parts.a))


def test_gated_windows_need_no_codes():
    windows = [{"video_id": "v", "window_index": i, "gated": i == 1} for i in range(3)]
    codes = [{"video_id": "v", "window_index": i} for i in (0, 2)]
    assert checks.codes_cover_windows(windows, codes).passed
    assert not checks.codes_cover_windows(windows, codes[:1]).passed


def test_overlapping_segments_fail(store, parts):
    segments = _rows(store, "segments", parts.a)
    a, b = next((a, b) for a, b in zip(segments, segments[1:], strict=False)
                if a["video_id"] == b["video_id"])  # fmt: skip
    bad = [{**r, "start_frame": a["end_frame"] - 1} if r is b else r for r in segments]
    _write(store, "segments", parts.a, bad)
    found = checks.segments_checks(store, *parts.a)
    assert _failed(found) == {"segments_ordered"}
    assert found["segments_ordered"].metadata["examples"] == [a["video_id"]]


def test_a_segment_without_clip_needs_a_failure_row(store, parts):
    segments = _rows(store, "segments", parts.a)
    victim = segments[0]
    _write(store, "segments", parts.a,
           [{**r, "clip_key": None} if r is victim else r for r in segments])  # fmt: skip
    found = checks.clip_checks(store, *parts.a)
    assert _failed(found) == {"every_segment_has_clip"}
    assert found["every_segment_has_clip"].metadata["examples"] == [
        f"{victim['segment_id']}: no clip and no failures row"
    ]
    failure = {"video_id": victim["video_id"], "uri": "u", "file_name": "f",
               "item": victim["clip_key"], "reason": "clip_failed", "detail": "test"}  # fmt: skip
    write_failures(store, *parts.a, "clips", [failure])
    found = checks.clip_checks(store, *parts.a)
    assert not _failed(found)
    assert found["every_segment_has_clip"].metadata["clip_failures"] == 1
    assert checks.clip_checks(store, *parts.a, written=False)["every_segment_has_clip"].passed


def test_missing_corrupt_and_wrong_length_clips_fail_the_decode_sample(store, parts):
    segments = _rows(store, "segments", parts.a)
    by_len = sorted(segments, key=lambda r: r["end_frame"] - r["start_frame"])
    short, long_ = by_len[0], by_len[-1]
    assert short["end_frame"] - short["start_frame"] < long_["end_frame"] - long_["start_frame"]
    gone, corrupt = [r for r in segments if r is not short and r is not long_][:2]
    store.write_bytes(long_["clip_key"], store.read_bytes(short["clip_key"]))  # too few frames
    store.delete(gone["clip_key"])
    store.write_bytes(corrupt["clip_key"], b"\x00not a video" * 100)
    found = checks.clip_checks(store, *parts.a, sample=len(segments))
    assert _failed(found) == {"clips_decode"}
    problems = found["clips_decode"].metadata["examples"]
    assert f"{gone['segment_id']}: clip not stored" in problems
    assert any(p.startswith(f"{corrupt['segment_id']}: does not decode") for p in problems)
    n_short, n_long = (r["end_frame"] - r["start_frame"] for r in (short, long_))
    assert f"{long_['segment_id']}: {n_short} frames decoded, expected {n_long}" in problems


def test_the_decode_sample_is_seeded_and_bounded(segmented_store, parts):
    store = open_storage(segmented_store)
    segments = _rows(store, "segments", parts.a)
    assert len(segments) > 2
    runs = [checks.clips_decode(store, segments, sample=2, seed="x").metadata for _ in range(2)]
    assert runs[0]["sampled"] == 2 and runs[0]["segments"] == runs[1]["segments"]
    assert set(runs[0]["segments"]) <= {r["segment_id"] for r in segments}
    assert checks.clips_decode(store, [], sample=2).metadata["sampled"] == 0
