"""The frozen random Transformer of the latent embedding: seeded, frozen, mask-aware."""

from __future__ import annotations

import numpy as np
import torch

from models.segment_encoder import FrozenSegmentEncoder, SegmentEncoderConfig


def seqs(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, size=(n, 4)).astype(np.float32) for n in (3, 17, 1, 40)]


def test_the_seed_alone_fixes_the_weights_and_the_embedding():
    torch.manual_seed(123)  # the global RNG plays no part
    a = FrozenSegmentEncoder(SegmentEncoderConfig(seed=5))
    torch.manual_seed(999)
    b = FrozenSegmentEncoder(SegmentEncoderConfig(seed=5))
    c = FrozenSegmentEncoder(SegmentEncoderConfig(seed=6))
    ea, eb, ec = a.embed(seqs()), b.embed(seqs()), c.embed(seqs())
    assert ea.shape == (4, 256) and ea.dtype == np.float32
    np.testing.assert_array_equal(ea, eb)
    assert not np.allclose(ea, ec)


def test_frozen_in_eval_mode_and_batching_does_not_change_the_result():
    enc = FrozenSegmentEncoder(SegmentEncoderConfig(seed=1))
    enc.train()
    assert not enc.training and not any(p.requires_grad for p in enc.parameters())
    s = seqs(2)
    alone = np.concatenate([enc.embed([x]) for x in s])
    together = enc.embed(s, batch_size=3)  # padding and reordering inside
    np.testing.assert_allclose(alone, together, atol=1e-5)


def test_state_round_trip_and_empty_and_long_sequences():
    enc = FrozenSegmentEncoder(SegmentEncoderConfig(seed=4, max_steps=16))
    back = FrozenSegmentEncoder.from_state(enc.state())
    s = [*seqs(3), np.zeros((0, 4), np.float32)]
    out = back.embed(s)
    np.testing.assert_array_equal(out, enc.embed(s))
    assert (out[-1] == 0).all() and np.isfinite(out).all()  # 40 steps > max_steps: subsampled


def test_different_sequences_embed_differently():
    enc = FrozenSegmentEncoder(SegmentEncoderConfig(seed=0))
    still = np.zeros((20, 4), np.float32)
    moving = np.tile(np.array([[1, -1, 0.5, 0]], np.float32), (20, 1))
    e = enc.embed([still, moving, still.copy()])
    assert np.allclose(e[0], e[2]) and not np.allclose(e[0], e[1])
