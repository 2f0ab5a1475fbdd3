"""Properties of ids and storage keys (CONVENTIONS "Ids", pipeline/io/keys.py).

Ids are deterministic hex of the documented length, distinct for distinct inputs, and never
contain a dot (WebDataset splits a member name at its first dot). Keys built from partition
names that validation accepts never leave their prefix (no ``..``, no leading ``/``, no empty
part) and name their partition back; validation rejects every other name.
"""

from __future__ import annotations

import datetime
import hashlib
import re
import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from property.strategies import names

from pipeline.config import VideoConfig, WindowConfig
from pipeline.ingest.landing import normalized_frame_count, plan_chunks, window_count
from pipeline.io import keys
from pipeline.io.names import is_utf8, printable, raw_bytes
from pipeline.io.storage import LocalStorage
from pipeline.io.storage.base import check_key
from pipeline.io.tables import partition_key, validate_partition
from pipeline.io.video import sha256_file, source_index
from pipeline.publish.jsonl import step_id
from pipeline.segments.stage import segment_id

HEX = re.compile(r"^[0-9a-f]+$")
D, S = "2026-03-01", "st1"
hex64 = st.text("0123456789abcdef", min_size=64, max_size=64)
frames = st.integers(0, 10**9)
versions = st.text(min_size=1, max_size=20)

# what validation admits (tables.py): a calendar date, a station of letters, digits, _ . -
STATION_RE = r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}"
stations = st.from_regex(STATION_RE, fullmatch=True)
dates = st.dates().map(lambda d: d.isoformat())
# names a hostile landing area may hold: path tricks, control characters, Unicode look-alikes
hostile = st.one_of(
    st.text(max_size=20),
    st.sampled_from(["..", ".", "", "a/b", "../x", "/abs", "a\\b", "x\n", "st\x00", "é", "-x"]),
    stations.map(lambda s: s + "\n"),
    stations.map(lambda s: s + "/.."),
)


# --- ids ----------------------------------------------------------------------------------
@given(hex64, frames, frames, versions)
def test_segment_id_is_the_documented_hash(vid, start, end, version):
    sid = segment_id(vid, start, end, version)
    assert len(sid) == 32 and HEX.match(sid) and "." not in sid
    blob = f"{vid}|{start}|{end}|{version}".encode()
    assert sid == hashlib.sha256(blob).hexdigest()[:32]
    assert sid == segment_id(vid, start, end, version)


@given(
    st.tuples(hex64, frames, frames, versions),
    st.tuples(hex64, frames, frames, versions),
)
@example(("a" * 64, 1, 23, "v"), ("a" * 64, 12, 3, "v"))  # digits never run together
def test_segment_ids_of_distinct_segments_differ(a, b):
    if a != b:
        assert segment_id(*a) != segment_id(*b)


@given(st.binary(max_size=5000), st.integers(1, 4096))
def test_video_id_is_sha256_of_the_bytes(data, chunk):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "v.mp4"
        path.write_bytes(data)
        vid = sha256_file(path, chunk_bytes=chunk)
    assert vid == hashlib.sha256(data).hexdigest()
    assert len(vid) == 64 and HEX.match(vid)


@given(
    hex64,
    st.floats(1.0, 240.0),
    st.integers(0, 5000),
    st.floats(1.0, 30.0),
    st.floats(0.5, 60.0),
    st.integers(2, 24),
    st.data(),
)
def test_chunk_plan_ids_and_windows(vid, fps, frame_count, target_fps, chunk_sec, T, data):
    """Chunk ids ``<vid16>-cNNNNN`` are unique and numbered from 0; every window belongs to
    exactly one chunk, and the chunk holds all of its frames."""
    stride = data.draw(st.integers(1, T))
    video = VideoConfig(target_fps=target_fps, chunk_seconds=chunk_sec)
    windows = WindowConfig(window_frames=T, stride_frames=stride)
    rows = plan_chunks(vid, fps, frame_count, video, windows)
    assert [r["chunk_index"] for r in rows] == list(range(len(rows)))
    assert [r["chunk_id"] for r in rows] == [f"{vid[:16]}-c{i:05d}" for i in range(len(rows))]
    assert all("." not in r["chunk_id"] for r in rows)
    n_norm = normalized_frame_count(fps, target_fps, frame_count)
    assert n_norm == sum(1 for k in range(frame_count + 1) if source_index(k, fps, target_fps)
                         < frame_count)  # fmt: skip
    assert sum(r["num_windows"] for r in rows) == window_count(n_norm, windows)
    next_window = 0
    for r in rows:
        assert 0 <= r["start_frame"] <= r["end_frame"] <= max(frame_count, 0)
        if r["num_windows"]:
            assert r["first_window_index"] == next_window
            next_window += r["num_windows"]
        for w in range(r["first_window_index"], r["first_window_index"] + r["num_windows"]):
            first = source_index(w * stride, fps, target_fps)
            last = source_index(w * stride + T - 1, fps, target_fps)
            assert r["start_frame"] <= first and last < r["end_frame"], (w, r)


@given(hex64, st.integers(0, 10**6))
def test_step_ids_match_the_jsonl_pattern(vid, step):
    sid = segment_id(vid, 0, 1, "v")
    assert re.fullmatch(r"[0-9a-f]{32}-\d{4,}", step_id(sid, step))
    assert step_id(sid, step).rsplit("-", 1) == [sid, f"{step:04d}"]


@given(st.integers(0, 10**9))
def test_shard_names_round_trip(index):
    name = keys.shard_name(index)
    assert keys.shard_number(name) == index
    assert keys.sidecar_name(name) == name[: -len(".tar")] + ".parquet"
    assert name.count(".") == 1  # only before the extension


@given(st.text(max_size=30))
def test_shard_number_rejects_other_names(name):
    if re.fullmatch(r"clips-\d{6,}\.tar", name) and name.isascii():
        assert keys.shard_number(name) == int(name[6:-4])
    else:
        with pytest.raises(ValueError, match="not a shard name"):
            keys.shard_number(name)


def test_negative_shard_index_is_rejected():
    with pytest.raises(ValueError, match="shard index"):
        keys.shard_name(-1)


# --- file names: exact bytes plus a printable form ---------------------------------------
@given(st.binary(max_size=40))
@example(b"take\xff.mp4")
@example("é".encode("latin-1"))
def test_file_names_are_stored_losslessly(raw):
    """A name as Python lists it (undecodable bytes as surrogate escapes) gives back its exact
    bytes; its printable form is UTF-8 text, the name itself when the name is UTF-8."""
    name = raw.decode("utf-8", "surrogateescape")
    assert raw_bytes(name) == raw
    shown = printable(name)
    shown.encode("utf-8")  # never raises: what the tables and logs hold
    try:
        raw.decode("utf-8")
        utf8 = True
    except UnicodeDecodeError:
        utf8 = False
    assert is_utf8(name) == utf8
    assert (shown == name) == utf8
    if not utf8:
        assert "\\x" in shown


# --- keys and partition validation ---------------------------------------------------------
def _partition_keys(date: str, station: str, vid: str, sid: str) -> list[tuple[str, str]]:
    """Every key template of one partition, with the prefix it must stay under."""
    part = f"date={date}/station={station}/"
    shards = keys.publish_prefix(keys.SHARDS_DIR, date, station)
    return [
        (f"tables/videos/{part}", partition_key("videos", date, station)),
        (f"tracks/fp/{part}", keys.tracks_key("fp", date, station, vid, 3, 1)),
        (f"tracks/fp/{part}", keys.tracks_key("fp", date, station, vid, 3)),
        (keys.segments_prefix(date, station), keys.segment_file_key(date, station, "stem")),
        (keys.clips_prefix(date, station), keys.clip_key(date, station, vid, sid)),
        (keys.plots_prefix(date, station), keys.energy_plot_key(date, station, "stem")),
        (shards, keys.shard_key(date, station, keys.shard_name(0))),
        (shards, keys.sidecar_key(date, station, keys.shard_name(0))),
        (shards, keys.shard_index_key(date, station)),
        (shards, keys.shard_manifest_key(date, station)),
        (keys.publish_prefix(keys.DATASET_DIR, date, station), keys.dataset_key(date, station)),
        (
            keys.publish_prefix(keys.LATENT_ACTIONS_DIR, date, station),
            keys.steps_key(date, station),
        ),
    ]


@given(dates, stations, hex64)
def test_keys_of_valid_partitions_stay_under_their_prefix(date, station, vid):
    validate_partition(date, station)
    sid = segment_id(vid, 0, 10, "v")
    for prefix, key in _partition_keys(date, station, vid, sid):
        assert key.startswith(prefix), (prefix, key)
        assert check_key(key) == key  # relative, no '.', '..' or empty part, no backslash
        assert not key.startswith("/") and ".." not in key.split("/")
        assert keys.partition_of(key) == (date, station)
        if key.startswith(keys.PUBLISH_ROOT + "/"):
            assert keys.relative_to_root(key) == key[len(keys.PUBLISH_ROOT) + 1 :]


@given(st.one_of(dates, st.text(max_size=12)), hostile)
@example("2026-01-01", "st1\n")  # `$` also matches before a final newline
@example("2026-01-01\n", "st1")
@example("2026-02-30", "st1")  # not a calendar date
def test_validation_admits_exactly_the_documented_names(date, station):
    ok_date = bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", date))
    if ok_date:
        try:
            datetime.date.fromisoformat(date)
        except ValueError:
            ok_date = False
    ok_station = bool(re.fullmatch(STATION_RE, station))
    if ok_date and ok_station:
        validate_partition(date, station)
        for _, key in _partition_keys(date, station, "0" * 64, "1" * 32):
            check_key(key)
    else:
        with pytest.raises(ValueError) as err:
            validate_partition(date, station)
        assert repr(date if not ok_date else station) in str(err.value)


@given(st.text(string.printable, max_size=30))
def test_file_stem_is_the_last_part_without_its_suffix(name):
    stem = keys.file_stem(name)
    assert "/" not in stem
    assert name.rstrip("/").rsplit("/", 1)[-1].startswith(stem)


file_names = st.one_of(
    st.sampled_from(["a", "a.mp4", "a.mov", "b.mp4", "c/a.mp4", "a\\b.mp4", "a_b.mp4"]),
    st.text(min_size=1, max_size=300).map(printable),  # long, odd and escaped names
    names(),
)


@given(st.lists(st.tuples(hex64, file_names), max_size=6, unique_by=lambda r: r[0]))
@example([("a" * 64, "x" * 250 + ".mp4")])  # made a 264-byte segment file name
@example([("a" * 64, "é" * 126 + ".mp4"), ("b" * 64, "é" * 126 + ".mov")])
@example(  # a suffixed stem equal to another video's own stem
    [("aa" + "0" * 62, "a.mp4"), ("bb" + "0" * 62, "a.mov"), ("cc" + "0" * 62, "a-aa000000.mp4")]
)
def test_video_stems_are_unique_safe_keys(videos):
    rows = [{"video_id": v, "file_name": f} for v, f in videos]
    stems = keys.video_stems(rows)
    assert set(stems) == {v for v, _ in videos}
    assert len(set(stems.values())) == len(stems)
    assert keys.video_stems(list(reversed(rows))) == stems
    for stem in stems.values():
        for prefix, key in (
            (keys.segments_prefix(D, S), keys.segment_file_key(D, S, stem)),
            (keys.plots_prefix(D, S), keys.energy_plot_key(D, S, stem)),
        ):
            assert check_key(key) == key and key.startswith(prefix)
            assert key.count("/") == prefix.count("/")  # the stem adds no folder
            assert len(key.rsplit("/", 1)[-1].encode("utf-8")) <= 255  # NAME_MAX


def test_a_long_video_name_gives_a_segment_file_the_file_system_takes(tmp_path):
    stems = keys.video_stems([{"video_id": "a" * 64, "file_name": "x" * 250 + ".mp4"}])
    store = LocalStorage(tmp_path)
    key = keys.segment_file_key(D, S, stems["a" * 64])
    store.write_bytes(key, b"{}")
    assert store.read_bytes(key) == b"{}"
