"""Properties only a trained, non-collapsed tokenizer has, as plain functions.

Each ``check_*`` raises ``AssertionError`` (with the measured numbers) when the property does not
hold; the tests apply them to a trained model (must pass) and to an untrained and a collapsed
model (must raise), so the bite of every check is itself tested. ``measure_*`` return the
numbers.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.tokenizer import MotionTokenizer, displacement_targets
from pipeline.segments.energy import latent_action_energy

# floors, set from measurements on the session fixtures (see the tests' docstrings)
SHUFFLE_LOSS_RATIO = 1.5  # loss with codes shuffled between windows / with the true codes
MOVING_ACCURACY = 0.5  # decoded displacement class right on moving points, true codes
LAE_AUC = 0.9  # ROC AUC of LAE, moving vs still windows


@dataclass(frozen=True)
class CodeInformativeness:
    """Decoder cross-entropy and accuracy on *moving* points (target class not the centre)."""

    loss_true: float
    loss_shuffled: float  # codes of another window (a derangement of the windows)
    loss_constant: float  # every window gets the codes of the first window
    acc_true: float
    acc_shuffled: float
    moving_points: int

    @property
    def shuffle_ratio(self) -> float:
        return self.loss_shuffled / self.loss_true


def collapsed_copy(model: MotionTokenizer) -> MotionTokenizer:
    """The same model with its encoder output forced constant (FSQ input weights zeroed)."""
    out = copy.deepcopy(model).eval()
    with torch.no_grad():
        out.fsq_in.weight.zero_()
        out.fsq_in.bias.zero_()
    return out


def _derangement(n: int, seed: int) -> torch.Tensor:
    """A permutation of range(n) with no fixed point (n >= 2)."""
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    out = torch.empty_like(perm)
    out[perm] = perm.roll(1)
    return out


def measure_informativeness(
    model: MotionTokenizer,
    velocities: np.ndarray,
    frame_size: np.ndarray,
    points: np.ndarray | None = None,
    seed: int = 0,
) -> CodeInformativeness:
    """Velocities (W, S, N, 2) normalized units, frame_size (2,) -> losses on moving points
    (of ``points`` only, when given: indexes into N)."""
    model = model.eval()
    vel = torch.from_numpy(np.asarray(velocities, np.float32))
    w = vel.shape[0]
    size = torch.from_numpy(np.asarray(frame_size, np.float32)).expand(w, 2)
    r = model.cfg.radius
    target = displacement_targets(vel, size, r)  # (W, S, N)
    moving = target != r * (2 * r + 1) + r  # (W, S, N)
    if points is not None:
        moving[:, :, np.setdiff1d(np.arange(vel.shape[2]), points)] = False
    with torch.no_grad():
        z_q = model.encode(vel).z_q  # (W, S, D)
        variants = {
            "true": z_q,
            "shuffled": z_q[_derangement(w, seed)],
            "constant": z_q[:1].expand_as(z_q),
        }
        loss, acc = {}, {}
        for name, z in variants.items():
            logits = model.decode(z)  # (W, S, N, C)
            lg, tg = logits[moving], target[moving]  # (M, C), (M,)
            loss[name] = float(F.cross_entropy(lg, tg))
            acc[name] = float((lg.argmax(-1) == tg).float().mean())
    return CodeInformativeness(
        loss_true=loss["true"],
        loss_shuffled=loss["shuffled"],
        loss_constant=loss["constant"],
        acc_true=acc["true"],
        acc_shuffled=acc["shuffled"],
        moving_points=int(moving.sum()),
    )


def check_codes_carry_motion(
    model: MotionTokenizer,
    velocities: np.ndarray,
    frame_size: np.ndarray,
    points: np.ndarray | None = None,
) -> CodeInformativeness:
    """The decoder needs the true codes to get moving points (of ``points``) right."""
    m = measure_informativeness(model, velocities, frame_size, points)
    assert m.moving_points > 0, "no moving points in the check data"
    assert m.shuffle_ratio >= SHUFFLE_LOSS_RATIO, f"shuffled codes barely hurt: {m}"
    assert m.loss_constant >= SHUFFLE_LOSS_RATIO * m.loss_true, f"constant codes barely hurt: {m}"
    assert m.acc_true >= MOVING_ACCURACY, f"moving points decoded badly with true codes: {m}"
    return m


def roc_auc(score: np.ndarray, positive: np.ndarray) -> float:
    """Mann-Whitney ROC AUC of ``score`` for ``positive`` (ties count half)."""
    pos, neg = score[positive], score[~positive]
    greater = (pos[:, None] > neg[None, :]).mean()
    ties = (pos[:, None] == neg[None, :]).mean()
    return float(greater + 0.5 * ties)


def check_lae_separates(
    z_q: np.ndarray, moving: np.ndarray, auc_floor: float = LAE_AUC
) -> tuple[float, float]:
    """LAE ranks moving windows above still ones; returns (AUC, mean LAE of moving windows)."""
    lae = latent_action_energy(z_q)  # (W,)
    auc = roc_auc(lae, moving)
    assert auc >= auc_floor, f"LAE AUC moving vs still {auc:.3f} < {auc_floor}"
    assert lae[moving].mean() > 0, "LAE is zero on moving windows: the latents do not change"
    return auc, float(lae[moving].mean())
