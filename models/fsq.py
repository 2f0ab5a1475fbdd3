"""Finite scalar quantization (FSQ; Mentzer et al. 2023, arXiv 2309.15505).

Each of ``D = len(levels)`` latent dims is bounded with tanh and rounded to ``L_i`` integer
levels, so the implicit codebook has ``prod(levels)`` entries and needs no commitment loss.

Conventions used everywhere in this project:
- *integer codes* per dim lie in ``[-(L // 2), L - 1 - L // 2]`` (odd L: symmetric, e.g. L=5
  -> -2..2; even L: one more level below zero, e.g. L=8 -> -4..3);
- *normalized codes* are integer codes divided by ``L // 2`` (within [-1, 1]); these are the
  quantized latents ``z_q`` the model and the energy stage see;
- the *index* of a code is the mixed-radix number of ``integer_code + L // 2`` with the first
  dim least significant (basis ``[1, L0, L0*L1, ...]``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

_EPS = 1e-3


def round_ste(z: torch.Tensor) -> torch.Tensor:
    """Round to the nearest integer with a straight-through (identity) gradient."""
    return z + (torch.round(z) - z).detach()


class FSQ(nn.Module):
    """Quantizer over the last dim (size ``len(levels)``) of its input.

    Projections in and out of the FSQ space are owned by the caller (the tokenizer), so this
    module has no parameters, only buffers.
    """

    def __init__(self, levels: Sequence[int]) -> None:
        super().__init__()
        if len(levels) == 0 or any(int(n) < 2 for n in levels):
            raise ValueError(f"FSQ levels must be a non-empty list of ints >= 2, got {levels!r}")
        self.levels: tuple[int, ...] = tuple(int(n) for n in levels)
        lv = torch.tensor(self.levels, dtype=torch.long)
        basis = torch.cumprod(torch.tensor((1, *self.levels[:-1]), dtype=torch.long), dim=0)
        self.register_buffer("_levels", lv, persistent=False)
        self.register_buffer("_basis", basis, persistent=False)
        self.register_buffer("_half_width", (lv // 2).float(), persistent=False)

    @property
    def dim(self) -> int:
        return len(self.levels)

    @property
    def codebook_size(self) -> int:
        return math.prod(self.levels)

    def bound(self, z: torch.Tensor) -> torch.Tensor:
        """Squash z (..., D) into the open range whose rounding gives exactly L_i levels.

        Even L needs an offset of 0.5 so that rounding yields L values, not L + 1 (the paper's
        ``tanh(z + shift) * half_l - offset``); the shift keeps z = 0 at integer code 0.
        """
        lv = self._levels.to(z.dtype)
        half_l = (lv - 1) * (1 + _EPS) / 2  # (D,)
        offset = torch.where(self._levels % 2 == 0, 0.5, 0.0).to(z.dtype)  # (D,)
        shift = torch.atanh(offset / half_l)  # (D,)
        return torch.tanh(z + shift) * half_l - offset  # (..., D)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Quantize z (..., D).

        Returns ``(z_pre, z_q, indices)``: bounded pre-rounding latents and quantized latents,
        both normalized by ``L // 2`` (same scale, so their differences are comparable), and the
        code indices (...,) long. Gradients pass straight through the rounding.
        """
        if z.shape[-1] != self.dim:
            raise ValueError(f"FSQ expects last dim {self.dim}, got shape {tuple(z.shape)}")
        bounded = self.bound(z)  # (..., D)
        rounded = round_ste(bounded)  # (..., D) integer-valued
        z_pre = bounded / self._half_width  # (..., D)
        z_q = rounded / self._half_width  # (..., D)
        return z_pre, z_q, self.codes_to_indices(z_q)

    def codes_to_indices(self, z_q: torch.Tensor) -> torch.Tensor:
        """Normalized codes (..., D) -> indices (...,) long in [0, codebook_size)."""
        shifted = torch.round(z_q * self._half_width + self._half_width).long()  # (..., D)
        if bool(((shifted < 0) | (shifted >= self._levels)).any()):
            raise ValueError("codes outside the FSQ grid; expected normalized codes from FSQ")
        return (shifted * self._basis).sum(dim=-1)  # (...,)

    def indices_to_codes(self, indices: torch.Tensor) -> torch.Tensor:
        """Indices (...,) -> normalized codes (..., D) float32."""
        idx = indices.long()
        if bool(((idx < 0) | (idx >= self.codebook_size)).any()):
            raise ValueError(f"indices outside [0, {self.codebook_size})")
        digits = (idx.unsqueeze(-1) // self._basis) % self._levels  # (..., D)
        return (digits.float() - self._half_width) / self._half_width  # (..., D)
