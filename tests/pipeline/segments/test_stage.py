"""``segment_partition`` on a real tracked video with known motion boundaries (block video):
boundaries found, tables and files consistent, reruns identical."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pipeline.io import schemas
from pipeline.io.keys import segment_file_key
from pipeline.io.storage import LocalStorage
from pipeline.io.tables import read_partition
from pipeline.io.video import count_frames
from pipeline.segments.config import SegmentationConfig
from pipeline.segments.stage import segment_id, segment_partition

CHANGEPOINT = SegmentationConfig(method="changepoint", features=("motion",))


def _segment(block_store, cfg: SegmentationConfig = CHANGEPOINT, **kw):
    store = LocalStorage(block_store.root)
    summary = segment_partition(store, block_store.date, block_store.station, cfg, **kw)
    return store, summary


def _json(store, block_store) -> dict:
    key = segment_file_key(block_store.date, block_store.station, "block")
    return json.loads(store.read_bytes(key))


def test_motion_boundaries_are_found_within_half_a_second(block_store):
    store, summary = _segment(block_store, write_clips=False)
    data = _json(store, block_store)
    cuts = [s["start_sec"] for s in data["segments"][1:]]
    for truth in block_store.move:
        assert min(abs(c - truth) for c in cuts) <= 0.5, (truth, cuts)
    assert len(cuts) <= 4, cuts  # no flood of spurious cuts in the static parts
    inside = [s for s in data["segments"] if s["start_sec"] >= 4.5 and s["end_sec"] <= 7.5]
    assert len(inside) <= 1  # constant-speed sliding is one piece
    assert summary.extra["segmented_videos"] == 1


def test_tables_and_segment_file_are_consistent(block_store):
    store, summary = _segment(block_store, write_clips=True)
    d, s = block_store.date, block_store.station
    windows = read_partition(store, "windows", d, s)
    energy = read_partition(store, "energy", d, s)
    segments = read_partition(store, "segments", d, s)
    video = read_partition(store, "videos", d, s).to_pylist()[0]
    assert energy.schema.remove_metadata() == schemas.ENERGY
    assert segments.schema.remove_metadata() == schemas.SEGMENTS
    assert energy.num_rows == windows.num_rows
    assert energy.column("window_index").to_pylist() == sorted(
        windows.column("window_index").to_pylist()
    )
    data = _json(store, block_store)
    assert data["video"] == "block.mp4" and data["fps"] == video["fps"]
    assert data["segments"][0]["start_sec"] == 0.0
    assert data["segments"][-1]["end_sec"] == pytest.approx(video["frame_count"] / video["fps"])
    for a, b in zip(data["segments"][:-1], data["segments"][1:], strict=True):
        assert a["end_sec"] == b["start_sec"]
    assert {x["label"] for x in data["segments"]} <= {"active", "idle"}
    rows = segments.to_pylist()
    active = [x for x in data["segments"] if x["label"] == "active"]
    assert len(rows) == len(active) > 0
    fps, tok = video["fps"], rows[0]["tokenizer_version"]
    for r, seg in zip(rows, active, strict=True):
        assert r["segment_id"] == segment_id(r["video_id"], r["start_frame"], r["end_frame"], tok)
        assert r["start_sec"] == r["start_frame"] / fps == seg["start_sec"]
        assert r["end_sec"] == r["end_frame"] / fps == seg["end_sec"]
        steps = [k for k in range(10_000) if r["start_frame"] <= 3 * k < r["end_frame"]]
        covered = [k for k in steps if k < (windows.num_rows - 1) * 4 + 15]
        assert len(r["codes"]) == len(covered)
        assert all(0 <= c < r["codebook_size"] for c in r["codes"])
        assert r["first_window"] <= r["last_window"]
        assert r["peak_energy"] >= r["mean_energy"] >= 0
        clip = Path(store.uri(r["clip_key"]))
        assert count_frames(clip) == r["end_frame"] - r["start_frame"]
    assert summary.extra["clips"]["failed"] == 0


def test_rerun_gives_identical_outputs_and_prunes_stale_clips(block_store):
    store, _ = _segment(block_store)
    d, s = block_store.date, block_store.station
    first = {t: read_partition(store, t, d, s) for t in ("energy", "segments")}
    clips = sorted(i.key for i in store.list(f"clips/date={d}/station={s}/"))
    store, _ = _segment(block_store)
    for t, table in first.items():
        assert read_partition(store, t, d, s).equals(table), t
    ids = first["segments"].column("segment_id").to_pylist()
    assert len(ids) == len(set(ids))
    assert sorted(i.key for i in store.list(f"clips/date={d}/station={s}/")) == clips
    # another segmentation: every clip on disk belongs to a row, no stale clip is left
    other = SegmentationConfig(method="changepoint", features=("motion",),
                               changepoint={"rule": "fixed", "n_bkps": 5})  # fmt: skip
    _segment(block_store, other)
    rows = read_partition(store, "segments", d, s).to_pylist()
    on_disk = sorted(i.key for i in store.list(f"clips/date={d}/station={s}/"))
    records = [k for k in on_disk if k.endswith("/clips.json")]  # one per video with clips
    assert [k for k in on_disk if k not in records] == sorted(r["clip_key"] for r in rows)
    assert records == sorted({k.rsplit("/", 1)[0] + "/clips.json" for k in on_disk})
    assert len(rows) == 6


@pytest.mark.parametrize("method", ["hysteresis", "combined"])
def test_other_methods_write_valid_outputs(block_store, method):
    cfg = SegmentationConfig(method=method, energy="lae_pre", max_len_sec=2.0)
    store, summary = _segment(block_store, cfg, write_clips=False)
    data = _json(store, block_store)
    assert data["meta"]["segmenter"] == cfg.label()
    assert data["meta"]["hysteresis"]["max_len_sec"] == 2.0
    energy = read_partition(store, "energy", block_store.date, block_store.station)
    smoothed = np.asarray(energy.column("lae_smoothed"))
    assert np.isfinite(smoothed).all() and (smoothed >= 0).all()
    assert summary.rows["energy"] == energy.num_rows


def test_the_given_checkpoint_is_the_current_one(block_store):
    from pipeline.tokens.stage import current_tokenizer

    store = LocalStorage(block_store.root)
    current = current_tokenizer(store)
    assert current is not None and current["training_digest"] is None
    assert store.exists(current["checkpoint_key"])
    versions = set(read_partition(store, "codes", block_store.date, block_store.station)
                   .column("tokenizer_version").to_pylist())  # fmt: skip
    assert versions == {current["version"]}


def test_belt_filter_counts_are_reported(block_store):
    store, summary = _segment(block_store, write_clips=False)
    belt = _json(store, block_store)["meta"]["belt_filter"]
    # the block slides past once: at most a few points at its textured edges see several
    # one-way episodes and are taken for a belt
    assert belt["points"] == 400 and 0 <= belt["removed"] <= belt["down_weighted"] <= 20
    assert summary.extra["belt_filter"] == {"block": belt}
    # without track features there is nothing to report
    store, summary = _segment(
        block_store, SegmentationConfig(method="hysteresis"), write_clips=False
    )
    assert "belt_filter" not in _json(store, block_store)["meta"]
    assert summary.extra["belt_filter"] == {}


def test_the_rule_that_set_the_count_is_reported(block_store):
    """Each segment file's meta and the stage summary say which count rule fired and how many
    fine pieces the adaptive rule merged (issue 12 item 4)."""
    store, summary = _segment(block_store, write_clips=False)  # the default: repeat
    g = _json(store, block_store)["meta"]["granularity"]
    # one block sliding past: no repeated motion, noise_gain's pieces are kept
    assert g["rule"] == "repeat" and g["fired"] == "noise_gain"
    assert g["repeat_median"] >= g["repeat_gate"] and g["merged"] == 0 == len(g["merged_at_sec"])
    assert summary.extra["granularity"] == {"merged": 0, "videos_noise_gain": 1}
    cfg = SegmentationConfig(changepoint={"rule": "noise_gain", "beta": 4.0, "min_size_sec": 0.7})
    store, summary = _segment(block_store, cfg, write_clips=False)
    g = _json(store, block_store)["meta"]["granularity"]
    hands = g.pop("hands")  # one block passing across: one mover, not two hands
    assert g == {"rule": "noise_gain", "fired": "noise_gain"}
    assert not hands["fired"] and hands["score"] < hands["gate"] == 0.6
    cfg = SegmentationConfig(changepoint={"rule": "adaptive", "beta": 4.0, "min_size_sec": 0.7})
    store, summary = _segment(block_store, cfg, write_clips=False)
    g = _json(store, block_store)["meta"]["granularity"]
    assert g["rule"] == "adaptive" and g["fired"] in ("noise_gain", "knee")
    assert (
        g["merged"]
        == len(g["merged_at_sec"])
        == (0 if g["fired"] == "noise_gain" else g["fine_segments"] - g["coarse_segments"])
    )
    assert summary.extra["granularity"] == {"merged": g["merged"], f"videos_{g['fired']}": 1}
    # a fixed count: the rule is named, there are no candidates to report
    cfg = SegmentationConfig(changepoint={"rule": "fixed", "n_bkps": 2, "min_size_sec": 0.7})
    store, summary = _segment(block_store, cfg, write_clips=False)
    assert _json(store, block_store)["meta"]["granularity"] == {"rule": "fixed", "fired": "fixed"}
    assert summary.extra["granularity"] == {"merged": 0, "videos_fixed": 1}
    # the hysteresis segmenter fits no change points: nothing to report
    store, summary = _segment(
        block_store, SegmentationConfig(method="hysteresis"), write_clips=False
    )
    assert "granularity" not in _json(store, block_store)["meta"]
    assert summary.extra["granularity"] == {"merged": 0}
