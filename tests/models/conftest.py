"""Tiny synthetic track windows for tokenizer tests (no tracker needed)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch

from models.tokenizer import MotionTokenizer, TokenizerConfig

FRAME_SIZE = (48.0, 32.0)  # (width, height) of the "normalized frames"


def tiny_config(**overrides: object) -> TokenizerConfig:
    base: dict[str, object] = dict(
        window_frames=6,
        grid_size=4,
        fsq_levels=(4, 3),
        d_model=32,
        heads=2,
        enc_layers=1,
        dec_layers=1,
        radius=3,
        input_scale=10.0,
        lr=3e-3,
        batch_size=16,
        max_epochs=2,
        seed=0,
        decoder_points_per_window=8,
        val_fraction=0.3,
        gated_keep_fraction=0.5,
    )
    base.update(overrides)
    return TokenizerConfig(**base)


def synth_windows(
    rng: np.random.Generator, n: int, cfg: TokenizerConfig, frame_size: tuple[float, float]
) -> dict[str, np.ndarray]:
    """Each window: one of a few global motions (px/step) applied to all points; some idle.

    Returns the npz arrays; velocities are in normalized units (px / (size / 2)).
    """
    s, npts = cfg.steps, cfg.num_points
    patterns = np.array([[0, 0], [2, 0], [-2, 0], [0, 2], [1, -1], [-1, 1]], np.float32)
    kinds = rng.integers(0, len(patterns), size=(n, s))  # (n, S) a motion per step
    px = np.repeat(patterns[kinds][:, :, None, :], npts, axis=2)  # (n, S, N, 2) pixels/step
    px += rng.normal(0, 0.1, px.shape).astype(np.float32)
    half = np.asarray(frame_size, np.float32) / 2
    idle = rng.random(n) < 0.2
    px[idle] = 0.0
    return {
        "velocities": (px / half).astype(np.float32),
        "gated": idle,
        "window_index": np.arange(n, dtype=np.int64),
        "frame_size": np.asarray(frame_size, np.float32),
    }


def write_tracks(path: Path, arrays: dict[str, np.ndarray]) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.fixture
def make_track_files(tmp_path: Path) -> Callable[..., list[tuple[str, Path]]]:
    """Factory: ``make_track_files(cfg, videos=3, windows=40, seed=0)`` -> [(video_id, path)]."""

    def _make(
        cfg: TokenizerConfig, videos: int = 3, windows: int = 40, seed: int = 0
    ) -> list[tuple[str, Path]]:
        rng = np.random.default_rng(seed)
        out = []
        for v in range(videos):
            arrays = synth_windows(rng, windows, cfg, FRAME_SIZE)
            out.append((f"video{v:02d}", write_tracks(tmp_path / f"video{v:02d}.npz", arrays)))
        return out

    return _make


@pytest.fixture
def tiny_cfg() -> Callable[..., TokenizerConfig]:
    """Factory for a tiny ``TokenizerConfig`` (keyword overrides)."""
    return tiny_config


@pytest.fixture
def synth() -> Callable[..., dict[str, np.ndarray]]:
    """``synth(rng, n, cfg, frame_size=FRAME_SIZE)`` -> npz arrays of synthetic windows."""

    def _synth(
        rng: np.random.Generator,
        n: int,
        cfg: TokenizerConfig,
        frame_size: tuple[float, float] = FRAME_SIZE,
    ) -> dict[str, np.ndarray]:
        return synth_windows(rng, n, cfg, frame_size)

    return _synth


# The trained model of the property tests (tests/models/tokenizer_checks.py): 20 epochs of the
# tiny config on 3 x 40 synthetic windows, about 7 s on one core. Measured (windows of
# ``synth_windows(default_rng(5), 30)``): moving-point loss 0.72 with the true codes, 4.89 with
# codes shuffled between windows (x6.8), accuracy 0.72; LAE AUC moving vs still 0.96. The same
# config after 3 epochs: x1.18, accuracy 0.17; after 10: x1.68, accuracy 0.22 (not yet trained).
TRAINED_EPOCHS = 20


@pytest.fixture(scope="session")
def trained_tokenizer(tmp_path_factory: pytest.TempPathFactory) -> MotionTokenizer:
    """A tiny tokenizer trained until its codes carry the motion (eval mode, CPU)."""
    from models.infer import TokenizerRunner
    from models.train import train_tokenizer
    from pipeline.tokens.training_data import load_videos

    tmp = tmp_path_factory.mktemp("trained_tokenizer")
    # one pass over the training windows per epoch, no early stop: the measured schedule
    cfg = tiny_config(max_epochs=TRAINED_EPOCHS, steps_per_epoch=None, early_stop_patience=None)
    rng = np.random.default_rng(0)
    files = [
        (
            f"video{v:02d}",
            write_tracks(tmp / f"video{v:02d}.npz", synth_windows(rng, 40, cfg, FRAME_SIZE)),
        )
        for v in range(3)
    ]
    result = train_tokenizer(load_videos(files, cfg), cfg, tmp / "run")
    return TokenizerRunner(result.checkpoint_path).model


@pytest.fixture(scope="session")
def untrained_tokenizer() -> MotionTokenizer:
    """The trained fixture's architecture with its initial random weights (seed 0)."""
    torch.manual_seed(0)
    return MotionTokenizer(tiny_config()).eval()


@pytest.fixture(scope="session")
def check_windows() -> dict[str, np.ndarray]:
    """30 fresh synthetic windows (not the training ones) for the property checks."""
    return synth_windows(np.random.default_rng(5), 30, tiny_config(), FRAME_SIZE)
