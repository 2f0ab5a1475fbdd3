"""The training budget: steps independent of data volume, stratified sampling, early stopping,
per-epoch progress (``models.data``, ``models.train``)."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from pathlib import Path

import numpy as np

from models.data import StratifiedWindowSampler, TrackWindowDataModule
from models.train import train_tokenizer
from pipeline.tokens.training_data import load_videos
from tests.models.conftest import tiny_config


def _videos(make_track_files, cfg, videos: int, windows: int, seed: int = 0):
    return load_videos(make_track_files(cfg, videos=videos, windows=windows, seed=seed), cfg)


def test_twice_the_data_trains_the_same_number_of_steps(make_track_files, tmp_path: Path):
    cfg = tiny_config(max_epochs=2, steps_per_epoch=3, early_stop_patience=None)
    small = train_tokenizer(_videos(make_track_files, cfg, 3, 40), cfg, tmp_path / "s")
    big = train_tokenizer(_videos(make_track_files, cfg, 6, 80, seed=1), cfg, tmp_path / "b")
    assert small.steps == big.steps == 6
    assert small.windows == big.windows == 6 * cfg.batch_size
    assert [int(r["steps"]) for r in big.history] == [3, 6]
    # without a budget an epoch is a pass over the data: twice the data, more steps
    full = cfg.model_copy(update={"steps_per_epoch": None})
    a = train_tokenizer(_videos(make_track_files, full, 3, 40), full, tmp_path / "fa")
    b = train_tokenizer(_videos(make_track_files, full, 6, 80, seed=1), full, tmp_path / "fb")
    assert b.steps > a.steps


def test_stratified_sampler_covers_every_station_and_video_evenly():
    # station a: one long video; station b: five short videos; station c: two videos
    groups = [("a", "a0")] * 500
    groups += [("b", f"b{i}") for i in range(5) for _ in range(3)]
    groups += [("c", "c0")] * 7 + [("c", "c1")] * 40
    sampler = StratifiedWindowSampler(groups, num_samples=90, seed=4)
    draws = sampler.indices(0)
    assert len(draws) == 90 and len(set(draws.tolist())) < 90  # short videos are reused
    picked = [groups[i] for i in draws]
    by_station = Counter(st for st, _ in picked)
    assert by_station == {"a": 30, "b": 30, "c": 30}  # not 500 : 15 : 47
    by_video = Counter(v for _, v in picked)
    assert set(by_video) == {v for _, v in groups}
    assert all(by_video[f"b{i}"] == 6 for i in range(5)) and by_video["c0"] == 15
    # a video's windows are drawn without replacement until they run out
    a_draws = [i for i in draws if groups[i][0] == "a"]
    assert len(set(a_draws)) == len(a_draws)
    # seeded: same seed and epoch, same draws; another epoch or seed, others
    again = StratifiedWindowSampler(groups, num_samples=90, seed=4)
    assert np.array_equal(again.indices(0), draws)
    assert not np.array_equal(sampler.indices(1), draws)
    assert not np.array_equal(StratifiedWindowSampler(groups, 90, seed=5).indices(0), draws)
    # iterating advances the epoch
    assert list(iter(sampler)) == draws.tolist() and list(iter(sampler)) != draws.tolist()


def test_datamodule_samples_the_budget_from_every_training_video(make_track_files):
    cfg = tiny_config(steps_per_epoch=4, val_fraction=0.3)
    videos = _videos(make_track_files, cfg, 5, 30)
    videos = [dataclasses.replace(v, station=f"st{i % 2}") for i, v in enumerate(videos)]
    dm = TrackWindowDataModule(videos, cfg)
    dm.setup("fit")
    assert dm.summary is not None
    assert dm.summary.windows_per_epoch == 4 * cfg.batch_size
    assert set(dm.summary.train_stations) <= {"st0", "st1"}
    batches = list(dm.train_dataloader())
    assert len(batches) == 4 and sum(len(b["velocities"]) for b in batches) == 64
    seen = {dm.train_groups[i] for i in dm.train_dataloader().sampler.indices(0)}
    assert {v for _, v in seen} == set(dm.summary.train_videos)


def test_early_stopping_stops_when_validation_stops_improving(make_track_files, tmp_path):
    # an improvement must be >= 5 nats: never after the first epoch, so patience 1 stops at 2
    cfg = tiny_config(
        max_epochs=8, steps_per_epoch=2, early_stop_patience=1, early_stop_min_delta=5.0
    )
    videos = _videos(make_track_files, cfg, 3, 30)
    stopped = train_tokenizer(videos, cfg, tmp_path / "stop")
    assert stopped.stopped_early and len(stopped.history) == 2 and stopped.steps == 4
    endless = cfg.model_copy(update={"early_stop_patience": None})
    full = train_tokenizer(videos, endless, tmp_path / "full")
    assert not full.stopped_early and len(full.history) == 8 and full.steps == 16


def test_on_epoch_gets_every_epoch_with_its_loss(make_track_files, tmp_path: Path):
    cfg = tiny_config(max_epochs=3, steps_per_epoch=2, early_stop_patience=None)
    rows: list[dict[str, float]] = []
    result = train_tokenizer(
        _videos(make_track_files, cfg, 3, 30), cfg, tmp_path / "o", on_epoch=rows.append
    )
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2]
    assert [int(r["steps"]) for r in rows] == [2, 4, 6]
    assert all(r["max_steps"] == 6 and r["max_epochs"] == 3 for r in rows)
    assert all(math.isfinite(r["train_loss"]) and math.isfinite(r["val_loss"]) for r in rows)
    assert [r["train_loss"] for r in rows] == [h["train_loss"] for h in result.history]
    assert result.windows_per_s > 0
    header = (tmp_path / "o" / "loss.csv").read_text().splitlines()[0]
    assert header == "epoch,steps,train_loss,val_loss"
