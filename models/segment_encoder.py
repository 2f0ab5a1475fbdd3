"""A frozen, randomly initialised Transformer that embeds a segment's latent action sequence.

The paper's reference code (METHOD.md stage 7) embeds each segment's quantized per-step
latents with an untrained Transformer encoder (d 256, 4 layers, 4 heads) and mean-pools over
the steps. A random network is a fixed, smooth, non-linear feature map of the sequence: two
segments whose code sequences are alike land close together.

Reproducible by construction: the weights come from ``torch.Generator().manual_seed(seed)``
alone (not the global RNG), the module is always in eval mode (no dropout), and the state dict
is saved with the library that used it (``state_dict`` / ``from_state``).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from pydantic import Field
from torch import nn

from models.config import FrozenConfig


class SegmentEncoderConfig(FrozenConfig):
    input_dim: int = Field(4, ge=1, description="per-step latent dimension (FSQ levels)")
    d_model: int = Field(256, ge=8, description="Transformer width")
    layers: int = Field(4, ge=1, description="encoder layers")
    heads: int = Field(4, ge=1, description="attention heads")
    max_steps: int = Field(4096, ge=1, description="longest sequence; longer ones are subsampled")
    seed: int = Field(0, description="seed of the random initialisation")


class FrozenSegmentEncoder(nn.Module):
    """(B, T, input_dim) latents with a (B, T) validity mask -> (B, d_model) mean-pooled."""

    def __init__(self, cfg: SegmentEncoderConfig) -> None:
        super().__init__()
        if cfg.d_model % cfg.heads:
            raise ValueError(f"d_model {cfg.d_model} is not divisible by heads {cfg.heads}")
        self.cfg = cfg
        self.proj = nn.Linear(cfg.input_dim, cfg.d_model)
        layer = nn.TransformerEncoderLayer(
            cfg.d_model, cfg.heads, dim_feedforward=4 * cfg.d_model, dropout=0.0,
            batch_first=True, norm_first=True,
        )  # fmt: skip
        self.encoder = nn.TransformerEncoder(layer, cfg.layers, enable_nested_tensor=False)
        self.register_buffer("pos", _sinusoid(cfg.max_steps, cfg.d_model), persistent=False)
        self._init(cfg.seed)
        self.requires_grad_(False)
        self.eval()

    def _init(self, seed: int) -> None:
        g = torch.Generator().manual_seed(seed)
        for name, p in sorted(self.named_parameters()):
            with torch.no_grad():
                if p.dim() >= 2:
                    bound = math.sqrt(6.0 / (p.shape[0] + p.shape[1]))  # xavier uniform
                    p.copy_(torch.rand(p.shape, generator=g) * 2 * bound - bound)
                elif name.endswith("weight"):  # layer norm scales
                    p.fill_(1.0)
                else:
                    p.zero_()

    def train(self, mode: bool = True) -> FrozenSegmentEncoder:  # always eval: frozen
        return super().train(False)

    @torch.no_grad()
    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = self.proj(x) + self.pos[: x.shape[1]]
        h = self.encoder(h, src_key_padding_mask=~mask)
        m = mask.unsqueeze(-1).to(h.dtype)
        return (h * m).sum(1) / m.sum(1).clamp_min(1.0)

    def embed(self, sequences: list[np.ndarray], *, batch_size: int = 64) -> np.ndarray:
        """One (T_i, input_dim) array per segment -> (n, d_model) float32. Sequences longer
        than ``max_steps`` are subsampled evenly; empty ones embed as zeros."""
        out = np.zeros((len(sequences), self.cfg.d_model), np.float32)
        order = sorted(range(len(sequences)), key=lambda i: len(sequences[i]))  # less padding
        for b in range(0, len(order), batch_size):
            idx = [i for i in order[b : b + batch_size] if len(sequences[i])]
            if not idx:
                continue
            seqs = [_fit_length(sequences[i], self.cfg.max_steps) for i in idx]
            t = max(len(s) for s in seqs)
            x = torch.zeros(len(idx), t, self.cfg.input_dim)
            mask = torch.zeros(len(idx), t, dtype=torch.bool)
            for j, s in enumerate(seqs):
                x[j, : len(s)] = torch.as_tensor(s, dtype=torch.float32)
                mask[j, : len(s)] = True
            out[idx] = self(x, mask).numpy()
        return out

    def state(self) -> dict[str, Any]:
        """What a library saves: the config and the weights."""
        return {"config": self.cfg.model_dump(), "state_dict": self.state_dict()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> FrozenSegmentEncoder:
        enc = cls(SegmentEncoderConfig(**state["config"]))
        enc.load_state_dict(state["state_dict"])
        enc.requires_grad_(False)
        return enc


def _fit_length(seq: np.ndarray, max_steps: int) -> np.ndarray:
    if len(seq) <= max_steps:
        return seq
    return seq[np.linspace(0, len(seq) - 1, max_steps).round().astype(int)]


def _sinusoid(n: int, d: int) -> torch.Tensor:
    pos = torch.arange(n, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, d, 2, dtype=torch.float32) * (-math.log(10000.0) / d))
    pe = torch.zeros(n, d)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div[: d // 2])
    return pe
