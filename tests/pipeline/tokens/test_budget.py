"""The retrain decision of the tokenizer stage (train once per station, reuse for new
partitions of known stations unless forced or the policy says otherwise) and its per-epoch
progress, on a real local store holding synthetic track files."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

import numpy as np
import pytest

from pipeline.io import schemas
from pipeline.io.storage import open_storage
from pipeline.io.tables import write_partition
from pipeline.tokens.stage import CURRENT_KEY, decide_training, tokenizer_stage, train_or_reuse
from tests.models.conftest import synth_windows, tiny_config

CFG = tiny_config(max_epochs=2, steps_per_epoch=2, early_stop_patience=None)


def add_partition(store, date: str, station: str, videos: int = 2, windows: int = 20, seed=0):
    """Track files and the windows table of one partition (synthetic motion)."""
    rng = np.random.default_rng(seed)
    rows = []
    for v in range(videos):
        vid = f"{station}-{date}-v{v}"
        arrays = synth_windows(rng, windows, CFG, (48.0, 32.0))
        buf = io.BytesIO()
        np.savez(buf, **arrays)
        key = f"tracks/test/{date}/{station}/{vid}.npz"
        store.write_bytes(key, buf.getvalue())
        rows += [
            {
                "video_id": vid, "chunk_index": 0, "window_index": int(i),
                "start_frame": int(i), "end_frame": int(i) + 5, "start_sec": i / 10,
                "end_sec": (i + 5) / 10, "gated": bool(arrays["gated"][i]),
                "camera_compensated": False, "global_motion_share": 0.0, "track_speed": 0.0,
                "flow_magnitude": 0.0, "pixel_diff": 0.0, "tracks_key": key, "fps": 10.0,
                "target_fps": 10.0, "window_frames": CFG.window_frames, "stride_frames": 1,
                "grid_size": CFG.grid_size,
            }
            for i in range(windows)
        ]  # fmt: skip
    write_partition(
        store, "windows", date, station, rows,
        schema=schemas.WINDOWS, schema_version=schemas.WINDOWS_VERSION,
    )  # fmt: skip


@pytest.fixture
def store(tmp_path: Path):
    s = open_storage(tmp_path / "store")
    add_partition(s, "2026-04-01", "st1")
    return s


@pytest.mark.slow
def test_new_partition_of_a_known_station_reuses_new_station_retrains(store, caplog):
    caplog.set_level(logging.INFO, logger="pipeline.tokens.stage")
    first = train_or_reuse(store, CFG, device="cpu")
    assert first.trained and first.decision == "trained: no tokenizer trained yet"

    add_partition(store, "2026-04-02", "st1", seed=1)  # a new day of the same station
    second = train_or_reuse(store, CFG, device="cpu")
    assert not second.trained and second.version == first.version
    assert "no new stations; 2 track files of known stations not trained on" in second.decision
    assert "reusing tokenizer" in caplog.text and "not trained on" in caplog.text

    # the policy new_files, or --force, trains on them
    by_files = train_or_reuse(store, CFG, device="cpu", retrain="new_files")
    assert by_files.trained and "2 new track files" in by_files.decision
    assert train_or_reuse(store, CFG, device="cpu").decision.startswith("reused: same config")
    forced = train_or_reuse(store, CFG, device="cpu", force=True)
    assert forced.trained and forced.decision == "trained: forced (--force)"

    add_partition(store, "2026-04-02", "st2", seed=2)  # a station never seen
    third = train_or_reuse(store, CFG, device="cpu")
    assert third.trained and third.decision == "trained: new stations ['st2']"
    assert "training a tokenizer: new stations ['st2']" in caplog.text
    pointer = json.loads(store.read_bytes(CURRENT_KEY))
    assert pointer["training_stations"] == ["st1", "st2"]
    assert pointer["retrain_decision"] == "new stations ['st2']"
    assert pointer["steps"] == 4  # the budget, whatever the data

    changed = CFG.model_copy(update={"lr": CFG.lr / 2})
    assert train_or_reuse(store, changed, device="cpu").decision == (
        "trained: the tokenizer config changed"
    )


def test_decision_without_recorded_stations_or_for_an_installed_checkpoint():
    files = [("v0", "tracks/a.npz")]
    stations = {"tracks/a.npz": "st1"}
    installed = {"version": "x", "training_digest": None}
    assert decide_training(installed, CFG, files, stations).train
    old = {"version": "x", "training_digest": "0", "config": CFG.model_dump(mode="json")}
    d = decide_training(old, CFG, files, stations)
    assert d.train and "does not record its stations" in d.reason


def test_stage_reports_epochs_as_progress(store):
    calls: list[tuple[str, int, int]] = []
    summary = tokenizer_stage(
        store, CFG, device="cpu", progress=lambda *a: calls.append(a)
    )
    # the epoch budget as soon as training starts, then one call per epoch
    assert calls == [("tokenizer", 0, 2), ("tokenizer", 1, 2), ("tokenizer", 2, 2)]
    extra = summary.extra
    assert extra["train_steps"] == 4 and extra["train_windows_per_s"] > 0
    assert extra["retrain_decision"] == "trained: no tokenizer trained yet"
    calls.clear()
    again = tokenizer_stage(store, CFG, device="cpu", progress=lambda *a: calls.append(a))
    assert again.extra["retrain_decision"].startswith("reused: same config")
    assert calls == [("tokenizer", 1, 1)]  # reused: done at once


def test_training_speed_measurement_runs_the_steps_it_reports():
    from pipeline.tokens.runners import measure_training

    out = measure_training(steps=2, windows=64, device="cpu")
    assert out["steps"] == 2 and out["windows"] == 2 * 32 and out["device"] == "cpu"
    assert out["train_windows_per_s"] == pytest.approx(out["windows"] / out["wall_s"])
