"""How much the motion tokenizer's codes say about the motion (torch only, no files).

``informativeness`` decodes held-out windows three times, on the same points:

- ``true``: the window's own quantized latents;
- ``shuffled``: the latents of another window (a seeded derangement of the windows);
- ``constant``: every step gets the most frequent code of the windows. This is the
  "decoder that sees no codes" baseline: the decoder still has its learned step and point
  queries and its memory positions, but the codes carry no information about the window. (No
  separate code-free decoder is trained; the constant-code decoder is an upper bound on what
  such a decoder achieves with these weights, not a retrained optimum.)

Scores are over *moving* points only: points whose target class (``displacement_targets``) is
not the zero-displacement class. Per variant: mean cross-entropy (nats), accuracy of the
argmax class, and end-point error in pixels of the argmax class's ``(dx, dy)`` against the true
(unrounded, unclipped) displacement ``velocity * frame_size / 2``. ``zero_motion_epe_px`` is the
end-point error of predicting no motion at all on the same points.

Points are decoded in seeded random chunks of ``decoder_points_per_window`` (the set size the
decoder's self-attention saw in training), covering every point of every window once; the same
chunks serve all variants, so their scores differ only by the latents.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F

from models.tokenizer import MotionTokenizer, displacement_targets


@dataclass(frozen=True)
class DecoderScores:
    """Decoder quality on moving points (and on all points, for reference)."""

    loss: float  # mean cross-entropy on moving points, nats
    accuracy: float  # argmax class == target class, moving points
    epe_px: float  # mean end-point error of the argmax displacement, pixels, moving points
    loss_all: float  # mean cross-entropy on every decoded point
    accuracy_all: float
    n_moving: int
    n_points: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class CodebookUsage:
    distinct: int
    perplexity: float  # exp(entropy of the code histogram)
    top_share: float  # share of the most frequent code
    codebook_size: int
    n_tokens: int

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def zero_class(radius: int) -> int:
    """The class of displacement (0, 0)."""
    return radius * (2 * radius + 1) + radius


def class_displacement(classes: torch.Tensor, radius: int) -> torch.Tensor:
    """Classes (...,) -> pixel displacement (..., 2) as (dx, dy), float."""
    side = 2 * radius + 1
    dx = classes % side - radius
    dy = classes // side - radius
    return torch.stack([dx, dy], dim=-1).float()


def codebook_usage(codes: np.ndarray, codebook_size: int) -> CodebookUsage:
    """Histogram statistics of FSQ indices (any shape)."""
    flat = np.asarray(codes, dtype=np.int64).reshape(-1)
    if flat.size == 0:
        return CodebookUsage(0, 0.0, 0.0, codebook_size, 0)
    counts = np.bincount(flat, minlength=codebook_size).astype(np.float64)
    p = counts[counts > 0] / flat.size
    return CodebookUsage(
        distinct=int((counts > 0).sum()),
        perplexity=float(math.exp(-(p * np.log(p)).sum())),
        top_share=float(p.max()),
        codebook_size=codebook_size,
        n_tokens=int(flat.size),
    )


def derangement(n: int, seed: int) -> torch.Tensor:
    """A seeded permutation of ``range(n)`` with no fixed point (identity for n < 2)."""
    if n < 2:
        return torch.arange(n)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    out = torch.empty(n, dtype=torch.long)
    out[order] = order.roll(-1)  # each window takes the latents of the next one in `order`
    return out


@torch.no_grad()
def encode_all(
    model: MotionTokenizer, velocities: torch.Tensor, batch_size: int = 256
) -> tuple[torch.Tensor, torch.Tensor]:
    """(z_q (W, S, D), codes (W, S)) in eval mode, batched."""
    model.eval()
    zs, cs = [], []
    for i in range(0, velocities.shape[0], batch_size):
        out = model.encode(velocities[i : i + batch_size])
        zs.append(out.z_q)
        cs.append(out.codes)
    if not zs:
        d = len(model.cfg.fsq_levels)
        return torch.zeros(0, model.cfg.steps, d), torch.zeros(0, model.cfg.steps, dtype=torch.long)
    return torch.cat(zs), torch.cat(cs)


@torch.no_grad()
def score_decoder(
    model: MotionTokenizer,
    velocities: torch.Tensor,
    frame_size: torch.Tensor,
    z_q: torch.Tensor,
    *,
    seed: int = 0,
    batch_size: int = 64,
) -> DecoderScores:
    """Decode ``z_q`` (W, S, D) for every point of ``velocities`` (W, S, N, 2) (module doc)."""
    model.eval()
    cfg = model.cfg
    r, n = cfg.radius, cfg.num_points
    chunk = cfg.decoded_points or n
    zero = zero_class(r)
    gen = torch.Generator().manual_seed(seed)
    sums = {"ce": 0.0, "ok": 0.0, "epe": 0.0, "ce_all": 0.0, "ok_all": 0.0}
    n_moving = n_points = 0
    for i in range(0, velocities.shape[0], batch_size):
        vel = velocities[i : i + batch_size].float()
        fs = frame_size[i : i + batch_size].float()
        zq = z_q[i : i + batch_size]
        half = (fs / 2).view(-1, 1, 1, 2)
        perm = torch.randperm(n, generator=gen)
        for idx in perm.split(chunk):
            logits = model.decode(zq, idx)  # (b, S, P, C)
            sel = vel[:, :, idx]  # (b, S, P, 2)
            target = displacement_targets(sel, fs, r)  # (b, S, P)
            ce = F.cross_entropy(logits.flatten(0, 2), target.reshape(-1), reduction="none")
            pred = logits.argmax(-1).reshape(-1)
            ok = (pred == target.reshape(-1)).float()
            moving = target.reshape(-1) != zero
            true_px = (sel * half).reshape(-1, 2)
            epe = torch.linalg.vector_norm(class_displacement(pred, r) - true_px, dim=-1)
            sums["ce"] += float(ce[moving].sum())
            sums["ok"] += float(ok[moving].sum())
            sums["epe"] += float(epe[moving].sum())
            sums["ce_all"] += float(ce.sum())
            sums["ok_all"] += float(ok.sum())
            n_moving += int(moving.sum())
            n_points += int(moving.numel())

    def mean(key: str, count: int) -> float:
        return sums[key] / count if count else math.nan

    return DecoderScores(
        loss=mean("ce", n_moving),
        accuracy=mean("ok", n_moving),
        epe_px=mean("epe", n_moving),
        loss_all=mean("ce_all", n_points),
        accuracy_all=mean("ok_all", n_points),
        n_moving=n_moving,
        n_points=n_points,
    )


@torch.no_grad()
def zero_motion_epe(velocities: torch.Tensor, frame_size: torch.Tensor, radius: int) -> float:
    """End-point error (px) of predicting no motion, on the moving points."""
    half = (frame_size.float() / 2).view(-1, 1, 1, 2)
    target = displacement_targets(velocities.float(), frame_size, radius)
    moving = target != zero_class(radius)
    if not bool(moving.any()):
        return math.nan
    px = torch.linalg.vector_norm(velocities.float() * half, dim=-1)  # (W, S, N)
    return float(px[moving].mean())


def informativeness(
    model: MotionTokenizer,
    velocities: torch.Tensor,
    frame_size: torch.Tensor,
    *,
    seed: int = 0,
    batch_size: int = 64,
) -> dict[str, object]:
    """The three decoder variants of the module doc on windows (W, S, N, 2) + their sizes (W, 2).

    Returns ``{"true", "shuffled", "constant"}`` (``DecoderScores`` dicts), ``shuffle_gain``
    (shuffled / true moving-point loss - 1), ``constant_gain`` (likewise), ``constant_code``,
    ``zero_motion_epe_px`` and ``codebook`` (usage over these windows)."""
    velocities = velocities.float()
    z_q, codes = encode_all(model, velocities)
    w = z_q.shape[0]
    shuffled = z_q[derangement(w, seed)]
    top = int(torch.bincount(codes.reshape(-1)).argmax()) if w else 0
    const = model.fsq.indices_to_codes(torch.tensor(top)).expand_as(z_q) if w else z_q
    kw = {"seed": seed, "batch_size": batch_size}
    scores = {
        "true": score_decoder(model, velocities, frame_size, z_q, **kw),
        "shuffled": score_decoder(model, velocities, frame_size, shuffled, **kw),
        "constant": score_decoder(model, velocities, frame_size, const.contiguous(), **kw),
    }
    base = scores["true"].loss
    return {
        **{k: v.to_dict() for k, v in scores.items()},
        "shuffle_gain": scores["shuffled"].loss / base - 1 if base > 0 else math.nan,
        "constant_gain": scores["constant"].loss / base - 1 if base > 0 else math.nan,
        "constant_code": top,
        "zero_motion_epe_px": zero_motion_epe(velocities, frame_size, model.cfg.radius),
        "codebook": codebook_usage(codes.numpy(), model.cfg.codebook_size).to_dict(),
        "n_windows": w,
    }
