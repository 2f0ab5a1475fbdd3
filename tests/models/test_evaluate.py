"""models.evaluate: the informativeness scores separate a decoder that reads the codes from one
that cannot (untrained, or ignoring the codes by construction)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from models.evaluate import (
    class_displacement,
    codebook_usage,
    derangement,
    informativeness,
    zero_class,
)
from models.tokenizer import MotionTokenizer, displacement_targets
from tests.models.conftest import FRAME_SIZE, synth_windows, tiny_config


def _windows(n: int, seed: int, cfg) -> tuple[torch.Tensor, torch.Tensor]:
    a = synth_windows(np.random.default_rng(seed), n, cfg, FRAME_SIZE)
    fs = np.broadcast_to(a["frame_size"], (n, 2)).copy()
    return torch.from_numpy(a["velocities"]), torch.from_numpy(fs)


def _train(model: MotionTokenizer, vel: torch.Tensor, fs: torch.Tensor, steps: int) -> None:
    """A plain loop over the model's own loss (what Lightning runs, without its overhead)."""
    gen = torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=model.cfg.lr)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, vel.shape[0], (16,), generator=gen)
        pts = torch.randperm(model.cfg.num_points, generator=gen)[: model.cfg.decoded_points]
        loss = model.loss({"velocities": vel[idx], "frame_size": fs[idx]}, pts)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


def test_class_displacement_inverts_targets() -> None:
    r = 3
    px = torch.tensor([[0, 0], [1, -2], [-3, 3], [2, 1]], dtype=torch.float32)  # (dx, dy)
    fs = torch.tensor([[48.0, 32.0]])
    vel = (px / (fs / 2)).view(1, 1, 4, 2)
    classes = displacement_targets(vel, fs, r).view(-1)
    assert classes[0] == zero_class(r)
    assert torch.equal(class_displacement(classes, r), px)


def test_codebook_usage() -> None:
    u = codebook_usage(np.array([[0, 0, 1, 1], [2, 2, 3, 3]]), 12)
    assert (u.distinct, u.n_tokens, u.top_share) == (4, 8, 0.25)
    assert u.perplexity == pytest.approx(4.0)
    assert codebook_usage(np.zeros((5, 3)), 12).perplexity == pytest.approx(1.0)


def test_derangement_moves_every_window() -> None:
    p = derangement(50, seed=3)
    assert sorted(p.tolist()) == list(range(50))
    assert not bool((p == torch.arange(50)).any())
    assert torch.equal(p, derangement(50, seed=3))


def test_decoder_that_ignores_codes_has_no_gap() -> None:
    """Memory built from nothing but zeros: every code variant decodes identically."""
    cfg = tiny_config()
    torch.manual_seed(0)
    model = MotionTokenizer(cfg).eval()
    with torch.no_grad():
        model.fsq_out.weight.zero_()
        model.fsq_out.bias.zero_()
        model.mem_pos.zero_()
    vel, fs = _windows(60, 1, cfg)
    r = informativeness(model, vel, fs)
    assert r["true"]["n_moving"] > 0
    assert r["shuffled"]["loss"] == r["true"]["loss"]
    assert r["constant"]["loss"] == r["true"]["loss"]
    assert r["shuffle_gain"] == 0.0


@pytest.mark.slow  # ~10 s on a quiet core, more on a loaded machine
def test_untrained_model_gap_is_small_and_trained_model_gap_is_large() -> None:
    """Random weights: shuffling codes changes the moving-point loss by < 5 %; after a short
    training on windows whose motion pattern changes every step (only the codes can say which),
    shuffling raises it by > 50 % and the true codes beat the zero-motion guess."""
    cfg = tiny_config()
    vel, fs = _windows(300, 0, cfg)
    held_vel, held_fs = _windows(80, 9, cfg)
    torch.manual_seed(0)
    model = MotionTokenizer(cfg)
    before = informativeness(model.eval(), held_vel, held_fs)
    assert abs(before["shuffle_gain"]) < 0.05
    _train(model, vel, fs, steps=150)
    after = informativeness(model, held_vel, held_fs)
    assert after["shuffle_gain"] > 0.5, after
    assert after["constant_gain"] > 0.5, after
    assert after["true"]["loss"] < before["true"]["loss"]
    assert after["true"]["epe_px"] < after["zero_motion_epe_px"]
    assert after["true"]["accuracy"] > after["shuffled"]["accuracy"]
    assert all(math.isfinite(after[k]["epe_px"]) for k in ("true", "shuffled", "constant"))
