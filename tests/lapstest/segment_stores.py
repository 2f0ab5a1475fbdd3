"""Fixtures of the segmentation-stage tests: tiny generated videos and an untrained tokenizer.

``block_video``: a static random texture with a textured block that stands still, slides right
at constant speed during ``[move_start, move_end)`` seconds, then stands still again: the only
motion boundaries are at ``move_start`` and ``move_end``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from models.checkpoint import save_checkpoint
from models.tokenizer import MotionTokenizer, TokenizerConfig
from pipeline.io.video import encode_frames

BLOCK_MOVE = (4.0, 8.0)  # seconds


def block_frames(
    seconds: float, fps: float, move: tuple[float, float], *, size: tuple[int, int] = (320, 240)
) -> Iterator[np.ndarray]:
    w, h = size
    rng = np.random.default_rng(7)
    bg = rng.integers(40, 200, (h // 4, w // 4, 3), dtype=np.uint8).repeat(4, 0).repeat(4, 1)
    block = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8).repeat(4, 0).repeat(4, 1)
    x0, x1, speed = 30, 230, 200 / ((move[1] - move[0]) * fps)  # px per frame
    for i in range(int(round(seconds * fps))):
        t = i / fps
        x = x0 + speed * min(max(t - move[0], 0.0), move[1] - move[0]) * fps
        img = bg.copy()
        xi = int(round(min(x, x1)))
        img[90 : 90 + 64, xi : xi + 64] = block
        yield img


def make_block_video(path: Path, *, seconds: float = 12.0, fps: float = 30.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    encode_frames(block_frames(seconds, fps, BLOCK_MOVE), path, fps=fps, crf=18)
    return path


def tiny_tokenizer_config(**overrides: object) -> TokenizerConfig:
    base: dict[str, object] = dict(
        window_frames=16,
        grid_size=20,
        fsq_levels=(4, 3),
        d_model=16,
        heads=2,
        enc_layers=1,
        dec_layers=1,
        radius=3,
        max_epochs=1,
        seed=0,
    )
    base.update(overrides)
    return TokenizerConfig(**base)


def make_checkpoint(path: Path) -> Path:
    """An untrained tiny tokenizer with seeded weights (codes are deterministic)."""
    torch.manual_seed(0)
    cfg = tiny_tokenizer_config()
    save_checkpoint(path, MotionTokenizer(cfg), cfg, {"note": "untrained, segment-stage tests"})
    return path


@dataclass(frozen=True)
class BlockStore:
    """A store with videos, windows and codes of one partition holding the block video."""

    root: Path
    input_dir: Path
    date: str
    station: str
    move: tuple[float, float] = BLOCK_MOVE  # the true motion boundaries, seconds


@pytest.fixture(scope="module")
def block_store(tmp_path_factory: pytest.TempPathFactory) -> BlockStore:
    from pipeline.cli.segment import run_folder
    from pipeline.segments.config import SegmentationConfig
    from pipeline.stages import PipelineConfig

    base = tmp_path_factory.mktemp("segstage-block")
    input_dir = base / "input"
    make_block_video(input_dir / "block.mp4")
    ckpt = make_checkpoint(base / "tiny.pt")
    run = run_folder(
        input_dir,
        base / "store",
        config=PipelineConfig(
            segmentation=SegmentationConfig(method="changepoint", features=("motion",)),
            write_clips=False,
        ),
        checkpoint=ckpt,
        station="bench1",
        date="2026-01-02",
    )
    assert run.videos, "the block video must be ingested"
    return BlockStore(base / "store", input_dir, run.date, run.station)
