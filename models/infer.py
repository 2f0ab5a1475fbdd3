"""Batched, deterministic inference of a trained tokenizer (encoder path only)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.checkpoint import load_checkpoint
from models.tokenizer import TokenizerConfig, sanitize_velocities

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InferenceOut:
    codes: np.ndarray  # (W, T-1) int16, FSQ indices
    z_q: np.ndarray  # (W, T-1, D_fsq) float32, quantized latents
    z_pre: np.ndarray  # (W, T-1, D_fsq) float32, bounded latents before rounding


class TokenizerRunner:
    """Loads a checkpoint once; ``encode`` maps window velocities to codes and latents.

    ``num_threads`` sets torch's intra-op threads for the whole process (torch has no
    per-model setting). Same input, batch size and thread count give identical outputs.
    """

    def __init__(
        self,
        checkpoint_path: Path,
        batch_size: int = 256,
        num_threads: int | None = None,
        expected_cfg: TokenizerConfig | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        self.batch_size = batch_size
        self.model, self.config, self.meta = load_checkpoint(Path(checkpoint_path), expected_cfg)
        self.model.eval()

    @property
    def tokenizer_version(self) -> str:
        return str(self.meta["tokenizer_version"])

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.meta)

    def encode(self, velocities: np.ndarray) -> InferenceOut:
        """Velocities (W, T-1, N, 2) float16/float32, normalized units -> codes and latents."""
        cfg = self.config
        want = (cfg.steps, cfg.num_points, 2)
        if velocities.ndim != 4 or tuple(velocities.shape[1:]) != want:
            raise ValueError(f"velocities must be (W, {want}), got {velocities.shape}")
        vel = torch.from_numpy(sanitize_velocities(velocities, "TokenizerRunner.encode"))
        codes, z_q, z_pre = [], [], []
        with torch.inference_mode():
            for start in range(0, vel.shape[0], self.batch_size):
                out = self.model.encode(vel[start : start + self.batch_size])  # (b, S, ...)
                codes.append(out.codes.to(torch.int16).numpy())
                z_q.append(out.z_q.numpy())
                z_pre.append(out.z_pre.numpy())
        d = len(cfg.fsq_levels)
        return InferenceOut(
            codes=np.concatenate(codes) if codes else np.zeros((0, cfg.steps), np.int16),
            z_q=np.concatenate(z_q) if z_q else np.zeros((0, cfg.steps, d), np.float32),
            z_pre=np.concatenate(z_pre) if z_pre else np.zeros((0, cfg.steps, d), np.float32),
        )
