import io

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipeline.io import schemas
from pipeline.io.storage import open_storage
from pipeline.io.tables import partition_key
from pipeline.quality import (
    check_chunk_rows,
    check_segment_rate,
    check_window_rows,
    chunk_problems,
    segment_problems,
    segment_rate,
    station_rate_history,
    usual_range,
    window_problems,
)


def test_rate_is_per_minute_of_video():
    assert segment_rate(30, 600.0) == pytest.approx(3.0)
    assert segment_rate(5, 0.0) == 0.0


def test_no_range_without_history_is_not_a_pass_and_says_why():
    check = check_segment_rate(10, 60.0, [9.0, 11.0])
    assert not check.passed and not check.enough_history and check.low is None
    assert check.description.startswith("not enough history: 2 earlier partitions, need 3")
    assert not check_segment_rate(10, 60.0, []).passed
    enough = check_segment_rate(10, 60.0, [9.0, 11.0, 10.0])
    assert enough.enough_history and enough.passed


def test_usual_range_is_robust_to_one_outlier():
    low, high = usual_range([10.0, 11.0, 9.0, 10.0, 55.0])
    assert low < 10.0 < high < 20.0


def test_rate_far_outside_the_history_fails():
    history = [10.0, 11.0, 9.5, 10.5, 10.0]
    assert check_segment_rate(10, 60.0, history).passed
    collapse = check_segment_rate(1, 60.0, history)
    assert not collapse.passed and "OUTSIDE" in collapse.description
    burst = check_segment_rate(40, 60.0, history)
    assert not burst.passed


def _chunk(vid, index, first, n, start):
    return {"video_id": vid, "chunk_index": index, "first_window_index": first, "num_windows": n,
            "start_frame": start, "end_frame": start + 100, "start_sec": start / 10,
            "end_sec": (start + 100) / 10}  # fmt: skip


def test_chunk_rows_good_and_bad():
    good = [_chunk("v", 0, 0, 5, 0), _chunk("v", 1, 5, 5, 90), _chunk("w", 0, 0, 3, 0)]
    assert check_chunk_rows(good) == (True, True)
    gap = [_chunk("v", 0, 0, 5, 0), _chunk("v", 1, 6, 5, 90), _chunk("w", 0, 0, 3, 0)]
    assert chunk_problems(gap) == (["v"], [])
    twice = [*good, _chunk("w", 0, 0, 3, 0)]  # a repeated chunk: windows owned twice
    gaps, backwards = chunk_problems(twice)
    assert gaps == ["w"] and backwards == ["w"]
    backward = [_chunk("v", 0, 0, 5, 90), _chunk("v", 1, 5, 5, 0)]
    assert chunk_problems(backward) == ([], ["v"])
    empty = [{**_chunk("v", 0, 0, 5, 0), "end_frame": 0}]
    assert check_chunk_rows(empty) == (True, False)


def _win(vid, i, start=None):
    s = i * 0.5 if start is None else start
    return {"video_id": vid, "window_index": i, "start_sec": s, "end_sec": s + 1.0}


def test_window_rows_good_and_bad():
    good = [_win("v", i) for i in range(4)] + [_win("w", 0)]
    assert check_window_rows(good) == (True, True)
    assert window_problems([_win("v", 0), _win("v", 2)]) == (["v"], [])
    assert window_problems([_win("v", 0), _win("v", 0)]) == (["v"], ["v"])
    assert window_problems([_win("v", 0, 1.0), _win("v", 1, 0.5)]) == ([], ["v"])
    assert window_problems([{**_win("v", 0), "end_sec": 0.0}]) == ([], ["v"])


def _seg(vid, i, start, end):
    return {"video_id": vid, "segment_index": i, "start_frame": start, "end_frame": end,
            "start_sec": start / 30, "end_sec": end / 30}  # fmt: skip


def test_segment_rows_good_and_bad():
    assert segment_problems([_seg("v", 0, 0, 30), _seg("v", 1, 30, 90), _seg("w", 0, 5, 9)]) == []
    assert segment_problems([_seg("v", 0, 0, 30), _seg("v", 1, 20, 90)]) == ["v"]  # overlap
    assert segment_problems([_seg("v", 0, 0, 30), _seg("v", 2, 30, 90)]) == ["v"]  # gap in index
    assert segment_problems([_seg("v", 0, 30, 30)]) == ["v"]  # empty
    assert segment_problems([_seg("v", 0, 40, 60), _seg("v", 1, 0, 30)]) == ["v"]  # backwards


def _write_raw(store, table, date, station, schema, n, **values):
    """An n-row partition of ``table``: nulls except ``values`` (every column nullable: only
    the columns the rate history reads matter here), written as a raw Parquet file."""
    nullable = pa.schema([f.with_nullable(True) for f in schema])
    cols = [pa.array(values.get(f.name, [None] * n), f.type) for f in schema]
    buf = io.BytesIO()
    pq.write_table(pa.Table.from_arrays(cols, schema=nullable), buf)
    store.write_bytes(partition_key(table, date, station), buf.getvalue())


def _write_rate_rows(store, date, station, n_segments, seconds, *, segmented=True):
    _write_raw(store, "videos", date, station, schemas.VIDEOS, 1, duration_sec=[seconds])
    if segmented:
        _write_raw(store, "segments", date, station, schemas.SEGMENTS, n_segments)


def test_rate_history_is_per_station_and_only_segmented_dates(tmp_path):
    store = open_storage(tmp_path / "store")
    _write_rate_rows(store, "2026-01-01", "a", 10, 60.0)  # 10/min
    _write_rate_rows(store, "2026-01-02", "a", 0, 60.0)  # segmented, no segments: 0/min
    _write_rate_rows(store, "2026-01-03", "a", 0, 60.0, segmented=False)  # ingested only
    _write_rate_rows(store, "2026-01-01", "b", 30, 60.0)  # another station
    _write_rate_rows(store, "2026-01-05", "a", 20, 60.0)  # not before
    assert station_rate_history(store, "a", before="2026-01-05") == [10.0, 0.0]
    assert station_rate_history(store, "b", before="2026-01-05") == [30.0]
    assert station_rate_history(store, "c", before="2026-01-05") == []
