"""The bridge to ``models.segment_encoder`` (only ``pipeline.tokens`` imports ``models``): a
frozen random Transformer state, created from a seed, and an embedding function from it."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch

from models.segment_encoder import FrozenSegmentEncoder, SegmentEncoderConfig


def new_encoder_state(*, input_dim: int, seed: int) -> dict[str, Any]:
    """Config and weights of a fresh frozen encoder (the paper's d 256, 4 layers, 4 heads)."""
    return FrozenSegmentEncoder(SegmentEncoderConfig(input_dim=input_dim, seed=seed)).state()


def encoder_from(state: dict[str, Any]) -> Callable[[Sequence[np.ndarray]], np.ndarray]:
    enc = FrozenSegmentEncoder.from_state(state)

    def run(seqs: Sequence[np.ndarray]) -> np.ndarray:
        with torch.inference_mode():
            return enc.embed(list(seqs))

    return run


def encoder_state_bytes(state: dict[str, Any]) -> bytes:
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


def encoder_state_from_bytes(data: bytes) -> dict[str, Any]:
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
