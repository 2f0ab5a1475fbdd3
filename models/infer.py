"""Batched, deterministic inference of a trained tokenizer (encoder path only).

Batches run on the resolved device (``models.device``: ``auto`` | ``cpu`` | ``cuda``). On CUDA
the encoder runs under autocast (bf16 where supported, else fp16) while the FSQ quantizer
(bound and rounding) always runs in float32; outputs come back as CPU numpy arrays. On CPU
nothing changes: no autocast, the same ops in the same order, identical codes and latents.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.checkpoint import load_checkpoint
from models.device import autocast_dtype, device_name, resolve_device
from models.fsq import FSQ
from models.tokenizer import TokenizerConfig, sanitize_velocities

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class InferenceOut:
    codes: np.ndarray  # (W, T-1) int16, FSQ indices
    z_q: np.ndarray  # (W, T-1, D_fsq) float32, quantized latents
    z_pre: np.ndarray  # (W, T-1, D_fsq) float32, bounded latents before rounding


def _fsq_in_float32(module: torch.nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """Forward pre-hook: the quantizer's input in float32, whatever autocast made of it, so the
    bound and rounding never run in half precision."""
    return tuple(a.float() if torch.is_tensor(a) else a for a in args)


class TokenizerRunner:
    """Loads a checkpoint once; ``encode`` maps window velocities to codes and latents.

    ``device``: ``auto`` | ``cpu`` | ``cuda`` (or a ``torch.device``), resolved once here;
    ``cuda`` without CUDA is a ``ValueError``. ``autocast``: mixed precision on CUDA (ignored on
    CPU). ``num_threads`` sets torch's intra-op threads for the whole process (torch has no
    per-model setting). Same input, batch size, thread count and device give identical outputs.
    """

    def __init__(
        self,
        checkpoint_path: Path,
        batch_size: int = 256,
        num_threads: int | None = None,
        expected_cfg: TokenizerConfig | None = None,
        device: str | torch.device = "cpu",
        autocast: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.device = device if isinstance(device, torch.device) else resolve_device(device)
        if num_threads is not None:
            torch.set_num_threads(num_threads)
        self.batch_size = batch_size
        self.model, self.config, self.meta = load_checkpoint(Path(checkpoint_path), expected_cfg)
        self.model.to(self.device).eval()
        self.autocast_dtype = autocast_dtype(self.device) if autocast else None
        if self.autocast_dtype is not None:
            for m in self.model.modules():
                if isinstance(m, FSQ):
                    m.register_forward_pre_hook(_fsq_in_float32)
        log.debug(
            "tokenizer %s on %s (autocast %s)",
            self.tokenizer_version,
            self.device_name,
            self.autocast_dtype,
        )

    @property
    def tokenizer_version(self) -> str:
        return str(self.meta["tokenizer_version"])

    @property
    def device_name(self) -> str:
        """``cpu`` or ``cuda:0``: the device shown in run metadata."""
        return device_name(self.device)

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.meta)

    def _autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.autocast_dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=self.device.type, dtype=self.autocast_dtype)

    def encode(self, velocities: np.ndarray) -> InferenceOut:
        """Velocities (W, T-1, N, 2) float16/float32, normalized units -> codes and latents."""
        cfg = self.config
        want = (cfg.steps, cfg.num_points, 2)
        if velocities.ndim != 4 or tuple(velocities.shape[1:]) != want:
            raise ValueError(f"velocities must be (W, {want}), got {velocities.shape}")
        vel = torch.from_numpy(sanitize_velocities(velocities, "TokenizerRunner.encode"))
        on_cpu = self.device.type == "cpu"
        codes, z_q, z_pre = [], [], []
        with torch.inference_mode(), self._autocast():
            for start in range(0, vel.shape[0], self.batch_size):
                batch = vel[start : start + self.batch_size]  # (b, S, N, 2)
                if not on_cpu:
                    batch = batch.to(self.device, non_blocking=True)
                out = self.model.encode(batch)  # (b, S, ...)
                codes.append(out.codes.to(torch.int16).cpu().numpy())
                z_q.append(out.z_q.float().cpu().numpy())
                z_pre.append(out.z_pre.float().cpu().numpy())
        d = len(cfg.fsq_levels)
        return InferenceOut(
            codes=np.concatenate(codes) if codes else np.zeros((0, cfg.steps), np.int16),
            z_q=np.concatenate(z_q) if z_q else np.zeros((0, cfg.steps, d), np.float32),
            z_pre=np.concatenate(z_pre) if z_pre else np.zeros((0, cfg.steps, d), np.float32),
        )
