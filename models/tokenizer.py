"""Motion tokenizer (docs/method.md stage 3): per-step velocities -> one FSQ code per step.

Encoder: each step's N x 2 velocities (normalized units, x then y) are scaled by
``input_scale``, flattened and projected to ``d_model``; learned step positions are added and a
small causal Transformer runs over the T-1 steps; an FSQ quantizer gives one code per step.
With ``latent_norm`` the FSQ input is standardized per dim over the batch (BatchNorm without
affine, running statistics at inference) before the tanh bound: without it the encoder drifts
to a near-constant, tanh-saturated latent (few codes, vanishing gradients) because the decoder's
learned per-point queries already predict most displacements on their own.

``input_deadzone`` shrinks each point's velocity magnitude by a fixed amount before anything
else (soft threshold, inside ``encode`` so training and inference share it): sensor noise,
tracker jitter and a still hand's tremor become exactly 0. Without it the standardized latents
jitter as much in idle windows as in active ones. Measured on the development videos (two sets
of 8 x 60 s ``bench`` synth, seeds 1000-1007 / 3000-3007; ROC AUC of the per-window Latent
Action Energy for active vs idle windows of the ground truth): no dead zone 0.55 / 0.49,
0.004 0.65 / -, 0.008 (default) 0.67 / 0.62, 0.016 0.66 / -; window track speed 0.80 on the
first set. Weighting the moving targets of the loss 10x did not help (0.56 alone, 0.66 with the
dead zone). The dead zone also made the latents describe the primitives: summarising each
ground-truth active segment of the first set by the mean, spread and step change of its
pre-quantization latents and clustering with k-means (k = the 7 true labels) gave NMI 0.018
without it and 0.153 with it; the same summary of the per-step track signals (plus duration)
gives 0.341, so the codes are not yet the best description of a primitive.

Decoder: a query per (step, point) = learned step embedding + learned point embedding
(factorized). Queries of one step form one sequence (self-attention across points of that step)
and cross-attend to all quantized tokens of their window (projected back to ``d_model``). A head
predicts each point's pixel displacement at that step as one of ``(2r+1)^2`` classes.

Targets: ``round(velocity * (frame_w / 2, frame_h / 2))`` clipped to ``[-r, r]``,
``class = (dy + r) * (2r + 1) + (dx + r)``.
"""

from __future__ import annotations

import logging
import math
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from models.config import FrozenConfig
from models.fsq import FSQ

log = logging.getLogger(__name__)


class TokenizerConfig(FrozenConfig):
    """Architecture, data and training settings of the motion tokenizer."""

    window_frames: int = Field(16, ge=2, description="T, frames per window")
    grid_size: int = Field(20, ge=1, description="points per axis; N = grid_size**2")
    fsq_levels: tuple[int, ...] = Field((8, 5, 5, 5), min_length=1, description="FSQ levels")
    d_model: int = Field(128, ge=8)
    heads: int = Field(4, ge=1)
    enc_layers: int = Field(2, ge=1)
    dec_layers: int = Field(1, ge=1)
    ff_mult: int = Field(2, ge=1, description="feed-forward width = ff_mult * d_model")
    radius: int = Field(7, ge=1, description="r; displacement classes (2r+1)^2, pixels/step")
    input_scale: float = Field(
        100.0, gt=0, description="velocity multiplier: 1 px/step at 426 px width -> ~0.47"
    )
    latent_norm: bool = Field(
        True, description="standardize the FSQ input per dim over the batch (no affine)"
    )
    input_deadzone: float = Field(
        0.008,
        ge=0,
        description="each point's velocity magnitude is shrunk by this much (normalized units "
        "per step, soft threshold) inside encode(): sensor noise and tracker jitter map to 0",
    )
    dropout: float = Field(0.0, ge=0, lt=1)
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    batch_size: int = Field(32, ge=1)
    max_epochs: int = Field(
        6, ge=1, description="epochs at most; with steps_per_epoch the budget is their product"
    )
    steps_per_epoch: int | None = Field(
        16,
        ge=1,
        description="optimisation steps per epoch, each a batch of windows sampled across "
        "stations and videos (stratified, seeded): training cost is max_epochs x "
        "steps_per_epoch steps whatever the data volume; None = one pass over every training "
        "window per epoch (grows with the data)",
    )
    early_stop_patience: int | None = Field(
        3,
        ge=1,
        description="stop after this many epochs without a validation-loss improvement of "
        "early_stop_min_delta; None = never stop early (no validation split: never)",
    )
    early_stop_min_delta: float = Field(
        0.0, ge=0, description="smallest validation-loss decrease (nats) that counts"
    )
    seed: int = 0
    decoder_points_per_window: int | None = Field(
        32,
        ge=1,
        description="points decoded per window in training/validation (at most N); None = all",
    )
    val_fraction: float = Field(0.2, ge=0, lt=1, description="share of videos held out")
    gated_keep_fraction: float = Field(
        0.1, ge=0, le=1, description="share of motion-gated (idle) windows kept for training"
    )

    @model_validator(mode="after")
    def _consistent(self) -> TokenizerConfig:
        problems = []
        if any(n < 2 for n in self.fsq_levels):
            problems.append(f"fsq_levels must all be >= 2, got {self.fsq_levels}")
        if self.codebook_size > np.iinfo(np.int16).max:
            problems.append(f"codebook_size={self.codebook_size} does not fit int16 codes")
        if self.d_model % self.heads:
            problems.append(f"d_model={self.d_model} not divisible by heads={self.heads}")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @property
    def codebook_size(self) -> int:
        return math.prod(self.fsq_levels)

    @property
    def steps(self) -> int:
        return self.window_frames - 1

    @property
    def num_points(self) -> int:
        return self.grid_size * self.grid_size

    @property
    def decoded_points(self) -> int | None:
        """Points decoded per window in training/validation; None = all N."""
        p = self.decoder_points_per_window
        return None if p is None or p >= self.num_points else p

    @property
    def num_classes(self) -> int:
        return (2 * self.radius + 1) ** 2


class EncodeOut(NamedTuple):
    z_pre: torch.Tensor  # (B, T-1, D_fsq) bounded latents before rounding (normalized scale)
    z_q: torch.Tensor  # (B, T-1, D_fsq) quantized latents
    codes: torch.Tensor  # (B, T-1) long, FSQ indices


def sanitize_velocities(vel: np.ndarray, source: str) -> np.ndarray:
    """float16/float32 velocities -> float32; non-finite entries become 0 with a warning."""
    out = np.asarray(vel, dtype=np.float32)
    bad = ~np.isfinite(out)
    if bad.any():
        log.warning("%s: %d non-finite velocity values set to 0", source, int(bad.sum()))
        out = np.where(bad, np.float32(0), out)
    return out


def displacement_targets(vel: torch.Tensor, frame_size: torch.Tensor, radius: int) -> torch.Tensor:
    """Velocities (B, S, P, 2) + frame sizes (B, 2) as (w, h) -> classes (B, S, P) long."""
    half = (frame_size.to(vel.dtype) / 2).view(-1, 1, 1, 2)  # (B, 1, 1, 2)
    px = torch.round(vel * half).clamp(-radius, radius).long()  # (B, S, P, 2)
    side = 2 * radius + 1
    return (px[..., 1] + radius) * side + (px[..., 0] + radius)  # (B, S, P)


class MotionTokenizer(nn.Module):
    def __init__(self, cfg: TokenizerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d, steps, n = cfg.d_model, cfg.steps, cfg.num_points
        self.in_proj = nn.Linear(n * 2, d)
        self.step_pos = nn.Parameter(torch.randn(steps, d) * 0.02)
        self.encoder = nn.TransformerEncoder(
            _enc_layer(cfg), cfg.enc_layers, enable_nested_tensor=False
        )
        self.enc_norm = nn.LayerNorm(d)
        self.fsq_in = nn.Linear(d, len(cfg.fsq_levels))
        self.fsq_norm: nn.Module = (
            nn.BatchNorm1d(len(cfg.fsq_levels), affine=False) if cfg.latent_norm else nn.Identity()
        )
        self.fsq = FSQ(cfg.fsq_levels)
        self.fsq_out = nn.Linear(len(cfg.fsq_levels), d)
        self.mem_pos = nn.Parameter(torch.randn(steps, d) * 0.02)
        self.query_step = nn.Parameter(torch.randn(steps, d) * 0.02)
        self.query_point = nn.Parameter(torch.randn(n, d) * 0.02)
        self.decoder = nn.TransformerDecoder(_dec_layer(cfg), cfg.dec_layers)
        self.dec_norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, cfg.num_classes)
        causal = torch.triu(torch.ones(steps, steps, dtype=torch.bool), diagonal=1)
        self.register_buffer("causal_mask", causal, persistent=False)  # True = masked

    def _check(self, vel: torch.Tensor) -> None:
        want = (self.cfg.steps, self.cfg.num_points, 2)
        if vel.ndim != 4 or tuple(vel.shape[1:]) != want:
            raise ValueError(f"velocities must be (B, {want}), got {tuple(vel.shape)}")

    def encode(self, vel: torch.Tensor) -> EncodeOut:
        """Velocities (B, T-1, N, 2) normalized units -> per-step latents and codes."""
        self._check(vel)
        b, s = vel.shape[:2]
        vel = vel.float()
        scale: float | torch.Tensor = self.cfg.input_scale
        dz = self.cfg.input_deadzone
        if dz > 0:  # |v| -> max(|v| - dz, 0), folded into the input scale (one full-size pass)
            speed = torch.hypot(vel[..., 0], vel[..., 1])  # (B, S, N)
            shrink = speed.clamp_(min=dz).reciprocal_().mul_(-dz).add_(1.0)
            scale = shrink.mul_(self.cfg.input_scale).unsqueeze(-1)  # (B, S, N, 1)
        x = (vel * scale).reshape(b, s, -1)  # (B, S, N*2)
        h = self.in_proj(x) + self.step_pos  # (B, S, d)
        h = self.encoder(h, mask=self.causal_mask, is_causal=True)  # (B, S, d)
        z = self.fsq_in(self.enc_norm(h))  # (B, S, D_fsq)
        z = self.fsq_norm(z.reshape(b * s, -1)).view(z.shape)  # (B, S, D_fsq)
        z_pre, z_q, codes = self.fsq(z)  # (B, S, D_fsq), (B, S, D_fsq), (B, S)
        return EncodeOut(z_pre=z_pre, z_q=z_q, codes=codes)

    def decode(self, z_q: torch.Tensor, point_idx: torch.Tensor | None = None) -> torch.Tensor:
        """Quantized latents (B, S, D_fsq) -> logits (B, S, P, C) for points ``point_idx``."""
        b, s, _ = z_q.shape
        mem = self.fsq_out(z_q) + self.mem_pos  # (B, S, d)
        mem = mem.unsqueeze(1).expand(b, s, s, -1).reshape(b * s, s, -1)  # (B*S, S, d)
        qp = self.query_point if point_idx is None else self.query_point[point_idx]  # (P, d)
        queries = self.query_step.unsqueeze(1) + qp.unsqueeze(0)  # (S, P, d)
        p = queries.shape[1]
        tgt = queries.unsqueeze(0).expand(b, s, p, -1).reshape(b * s, p, -1)  # (B*S, P, d)
        out = self.decoder(tgt, mem)  # (B*S, P, d)
        logits = self.head(self.dec_norm(out))  # (B*S, P, C)
        return logits.view(b, s, p, -1)  # (B, S, P, C)

    def forward(self, vel: torch.Tensor, point_idx: torch.Tensor | None = None) -> torch.Tensor:
        """Velocities (B, T-1, N, 2) -> displacement-class logits (B, T-1, P, C)."""
        return self.decode(self.encode(vel).z_q, point_idx)

    def loss(
        self, batch: dict[str, torch.Tensor], point_idx: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Mean cross-entropy over steps and (selected) points of a batch from ``models.data``."""
        vel = batch["velocities"]  # (B, S, N, 2)
        logits = self(vel, point_idx)  # (B, S, P, C)
        sel = vel if point_idx is None else vel[:, :, point_idx]  # (B, S, P, 2)
        target = displacement_targets(sel, batch["frame_size"], self.cfg.radius)  # (B, S, P)
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1))


def _layer_kwargs(cfg: TokenizerConfig) -> dict:
    """Shared settings of encoder and decoder layers (pre-norm, GELU, batch first)."""
    return {
        "d_model": cfg.d_model,
        "nhead": cfg.heads,
        "dim_feedforward": cfg.ff_mult * cfg.d_model,
        "dropout": cfg.dropout,
        "activation": "gelu",
        "batch_first": True,
        "norm_first": True,
    }


def _enc_layer(cfg: TokenizerConfig) -> nn.TransformerEncoderLayer:
    return nn.TransformerEncoderLayer(**_layer_kwargs(cfg))


def _dec_layer(cfg: TokenizerConfig) -> nn.TransformerDecoderLayer:
    return nn.TransformerDecoderLayer(**_layer_kwargs(cfg))


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
