import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from models.infer import TokenizerRunner
from models.train import train_tokenizer
from pipeline.tokens.plots import plot_loss
from pipeline.tokens.training_data import load_videos


@pytest.fixture
def trained_twice(tiny_cfg, make_track_files, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # anything written relative to the cwd would show up here
    cfg = tiny_cfg(max_epochs=3)
    files = make_track_files(cfg, videos=3, windows=40)
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    a = train_tokenizer(load_videos(files, cfg), cfg, tmp_path / "run_a")
    b = train_tokenizer(load_videos(files, cfg), cfg, tmp_path / "run_b")
    return cfg, files, a, b, was_deterministic


def test_same_seed_gives_same_version_and_history(trained_twice) -> None:
    _, _, a, b, _ = trained_twice
    assert a.tokenizer_version == b.tokenizer_version
    assert a.history == b.history


def test_artifacts_and_history(trained_twice, tmp_path: Path) -> None:
    cfg, _, a, _, was_deterministic = trained_twice
    assert torch.are_deterministic_algorithms_enabled() == was_deterministic
    assert not (tmp_path / "lightning_logs").exists()
    assert (tmp_path / "run_a" / "lightning_logs").is_dir()
    assert a.checkpoint_path.is_file()
    assert plot_loss(a.history, tmp_path / "loss.png").stat().st_size > 0
    assert [r["epoch"] for r in a.history] == [0.0, 1.0, 2.0]
    assert all(math.isfinite(r["train_loss"]) and math.isfinite(r["val_loss"]) for r in a.history)
    assert a.history[-1]["train_loss"] < a.history[0]["train_loss"]
    with a.loss_csv_path.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and float(rows[2]["val_loss"]) == pytest.approx(a.history[2]["val_loss"])
    runner = TokenizerRunner(a.checkpoint_path, expected_cfg=cfg)
    assert runner.tokenizer_version == a.tokenizer_version
    meta = runner.metadata
    assert set(meta["training_videos"]).isdisjoint(meta["validation_videos"])
    assert len(meta["history"]) == 3


def test_different_seed_gives_different_version(trained_twice, tmp_path: Path) -> None:
    cfg, files, a, _, _ = trained_twice
    c = train_tokenizer(
        load_videos(files, cfg), cfg.model_copy(update={"seed": 1}), tmp_path / "run_c"
    )
    assert c.tokenizer_version != a.tokenizer_version


def test_trained_codes_follow_motion(trained_twice, synth) -> None:
    """After a little training, idle and moving windows get different codes."""
    cfg, _, a, _, _ = trained_twice
    runner = TokenizerRunner(a.checkpoint_path)
    arrays = synth(np.random.default_rng(5), 30, cfg)
    out = runner.encode(arrays["velocities"])
    idle = arrays["gated"]
    assert idle.any() and (~idle).any()
    idle_codes = out.codes[idle]  # (I, S): identical zero inputs -> identical codes
    assert (idle_codes == idle_codes[0]).all()
    moving_differs = (out.codes[~idle] != idle_codes[0]).any(axis=1)  # (M,)
    assert moving_differs.mean() > 0.9
