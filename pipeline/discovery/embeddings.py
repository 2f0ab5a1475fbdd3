"""Segment embeddings: one vector per action-primitive segment (METHOD.md stage 7).

Three embedders, each deterministic for the same inputs and seed:

- ``latent_transformer`` (the paper's): the segment's per-step *quantized* latents (its FSQ
  codes turned back into normalized level values) through a frozen, randomly initialised
  Transformer (d 256, 4 layers, 4 heads), mean-pooled over the steps
  (``models.segment_encoder``). Its weights and config are saved with the library.
- ``code_bag``: the segment's code histogram over the codebook, as frequencies, square-rooted
  (the Hellinger map, so that cosine similarity of two bags is their Bhattacharyya overlap).
- ``motion_summary``: what the point tracks say the hand did, per step, summarised over the
  segment: motion and occlusion energy, track speed and flow magnitude, and the "where and
  which way" of the moving points (their centroid and mean velocity, each point weighted by its
  speed above its own noise floor times its conveyor-filter weight, as the motion energy counts
  it: small finger motions during a grasp then locate the hand; weighting by raw speed gave NMI
  0.50 on the bench development seeds, this 0.63); each
  as mean and standard deviation over the segment's steps, plus the mean absolute step change
  of the energies, the log duration, and the centroid and velocity averaged over the first and
  over the last third of the steps (where the hand starts and ends: on the bench development
  seeds this raised NMI with automatic k from 0.31 to 0.50, docs/experiments/issue13). The four
  energies are log-compressed (``log1p(10 x)``) before summarising: on the cyclic development
  seeds that raised NMI from 0.32 to 0.43, bench unchanged (0.50). Version 2 adds the
  ``spread`` of the moving points per step (their weighted RMS distance from their centroid:
  how large the moving thing looks), as mean and standard deviation over the segment: on the
  development seeds (NMI with automatic k, mean over k-means seeds 0-4) bench 0.601 -> 0.612,
  cyclic 0.402 -> 0.464. The divergence and curl of the moving points about their centroid
  and their effective number were tried too and dropped (docs/experiments/issue13/where.py).

``embed(name, items, context)`` returns an (n, d) float32 matrix in the order of ``items``;
the library standardises and L2-normalises it (``pipeline.discovery.library``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from pipeline.errors import DiscoveryError

log = logging.getLogger(__name__)

EmbeddingName = Literal["motion_summary", "latent_transformer", "code_bag"]
EMBEDDINGS: tuple[str, ...] = ("motion_summary", "latent_transformer", "code_bag")
# bumped whenever an embedding's definition changes: part of the library's fit fingerprint,
# so that a stored library of the old definition is refitted, not reused
EMBEDDING_VERSIONS: dict[str, int] = {"motion_summary": 2, "latent_transformer": 1, "code_bag": 1}

# per-step descriptors of ``motion_summary`` (the order of its columns)
STEP_FEATURES = (
    "motion", "occlusion", "track_speed", "flow_magnitude", "centroid_x", "centroid_y",
    "velocity_x", "velocity_y", "spread",
)  # fmt: skip
_CHANGE_FEATURES = ("motion", "occlusion", "track_speed", "flow_magnitude")
# where the moving points are and go at the start and the end of a segment (first and last
# third of its steps): reach, transport and retract differ mostly in these
_ENDS = slice(4, 8)


@dataclass(frozen=True)
class SegmentItem:
    """One segment to embed: its id, where it is, and its per-step codes."""

    segment_id: str
    video_id: str
    date: str
    station: str
    start_sec: float
    end_sec: float
    codes: np.ndarray  # (n,) int FSQ indices, one per target-rate step
    fsq_levels: tuple[int, ...]
    codebook_size: int
    tokenizer_version: str | None = None

    @property
    def duration_sec(self) -> float:
        return self.end_sec - self.start_sec


@dataclass
class VideoSteps:
    """One video's per-step descriptors: ``times`` (S,) seconds and ``values`` (S, F) in
    ``STEP_FEATURES`` order."""

    times: np.ndarray
    values: np.ndarray


@dataclass
class EmbedContext:
    """What the embedders may need besides the segments: per-video step descriptors (for
    ``motion_summary``) and the frozen encoder's state (``latent_transformer``; created with
    ``seed`` when None and kept here so the caller can save it)."""

    steps: Mapping[str, VideoSteps] = field(default_factory=dict)
    encoder_state: dict[str, Any] | None = None
    seed: int = 0


def embed(name: str, items: Sequence[SegmentItem], ctx: EmbedContext) -> np.ndarray:
    if name == "motion_summary":
        return motion_summary(items, ctx.steps)
    if name == "latent_transformer":
        return latent_transformer(items, ctx)
    if name == "code_bag":
        return code_bag(items)
    raise DiscoveryError(f"unknown embedding {name!r}; embeddings are {', '.join(EMBEDDINGS)}")


def code_bag(items: Sequence[SegmentItem]) -> np.ndarray:
    if not items:
        return np.zeros((0, 1), np.float32)
    size = max(int(it.codebook_size) for it in items)
    out = np.zeros((len(items), size), np.float32)
    for i, it in enumerate(items):
        c = np.asarray(it.codes, np.int64)
        if c.size:
            out[i] = np.sqrt(np.bincount(c, minlength=size)[:size] / c.size)
    return out


def latent_transformer(items: Sequence[SegmentItem], ctx: EmbedContext) -> np.ndarray:
    from pipeline.segments.signals import codes_to_latents
    from pipeline.tokens.segment_encoder import encoder_from, new_encoder_state

    if not items:
        return np.zeros((0, 1), np.float32)
    levels = {tuple(it.fsq_levels) for it in items}
    if len(levels) != 1:
        raise DiscoveryError(f"segments of different FSQ levels cannot share a library: {levels}")
    (lv,) = levels
    if ctx.encoder_state is None:
        ctx.encoder_state = new_encoder_state(input_dim=len(lv), seed=ctx.seed)
    enc = encoder_from(ctx.encoder_state)
    seqs = [codes_to_latents(np.asarray(it.codes, np.int64), lv) for it in items]
    return enc(seqs)


def motion_summary(items: Sequence[SegmentItem], steps: Mapping[str, VideoSteps]) -> np.ndarray:
    f = len(STEP_FEATURES)
    change = [STEP_FEATURES.index(n) for n in _CHANGE_FEATURES]
    out = np.zeros(
        (len(items), 2 * f + len(change) + 1 + 2 * (_ENDS.stop - _ENDS.start)), np.float32
    )
    for i, it in enumerate(items):
        vs = steps.get(it.video_id)
        if vs is None:
            raise DiscoveryError(f"no track descriptors for video {it.video_id[:12]}")
        sel = (vs.times >= it.start_sec) & (vs.times < it.end_sec)
        if not sel.any() and vs.times.size:  # a segment shorter than a step: the nearest one
            sel = np.zeros(vs.times.size, bool)
            sel[int(np.argmin(np.abs(vs.times - (it.start_sec + it.end_sec) / 2)))] = True
        x = np.array(vs.values[sel], dtype=np.float64)
        if x.shape[0] == 0:
            x = np.zeros((1, f))
        # the energies are heavy-tailed (a fast reach is 10x a slow grasp): log-compressed
        x[:, :4] = np.log1p(10.0 * np.maximum(x[:, :4], 0.0))
        step = np.abs(np.diff(x[:, change], axis=0)).mean(axis=0) if len(x) > 1 else 0.0
        third = max(1, len(x) // 3)
        out[i] = np.concatenate(
            [x.mean(axis=0), x.std(axis=0), np.broadcast_to(step, (len(change),)),
             [math.log(max(it.duration_sec, 1e-3))],
             x[:third, _ENDS].mean(axis=0), x[len(x) - third :, _ENDS].mean(axis=0)]
        )  # fmt: skip
    return out


def step_descriptors(
    velocities: np.ndarray,
    point_weight: np.ndarray,
    motion: np.ndarray,
    occlusion: np.ndarray,
    *,
    grid_size: int,
    times: np.ndarray,
    window_centres: np.ndarray,
    track_speed: np.ndarray,
    flow_magnitude: np.ndarray,
) -> VideoSteps:
    """Per-step descriptors of one video from its step velocities ``(S, N, 2)`` (normalized
    units), the conveyor filter's point weights, the motion/occlusion energies and the
    per-window statistics (interpolated to the step times)."""
    s = min(len(times), velocities.shape[0], motion.size, occlusion.size)
    n = velocities.shape[1] if velocities.ndim == 3 else 0
    vals = np.zeros((len(times), len(STEP_FEATURES)), np.float64)
    if s and n == grid_size * grid_size:
        g = (np.arange(grid_size) + 0.5) / grid_size * 2.0 - 1.0
        gx, gy = np.meshgrid(g, g)
        pos = np.stack([gx.ravel(), gy.ravel()], axis=1)  # (N, 2) row-major, as seed_grid
        from pipeline.segments.motion import NOISE_K, _active

        res = velocities[:s].astype(np.float64)
        res -= np.median(res, axis=0)  # each point's persistent motion, as the motion energy
        active, _ = _active(res, NOISE_K)  # speed above each point's own noise floor
        speed = active * point_weight[None, :n]  # (s, N), the belt's points down-weighted
        total = speed.sum(axis=1)
        ok = total > 1e-9
        w = np.where(ok[:, None], speed / np.where(ok, total, 1.0)[:, None], 0.0)
        vals[:s, 4:6] = w @ pos
        vals[:s, 6] = (w * res[..., 0]).sum(axis=1)
        vals[:s, 7] = (w * res[..., 1]).sum(axis=1)
        # weighted RMS distance from the centroid: E|p|^2 - |E p|^2 (weights sum to 1 or 0)
        var = w @ (pos**2).sum(axis=1) - (vals[:s, 4:6] ** 2).sum(axis=1)
        vals[:s, 8] = np.sqrt(np.clip(var, 0.0, None))
    elif n and n != grid_size * grid_size:
        log.warning("tracks have %d points, not a %dx%d grid: no centroid features", n,
                    grid_size, grid_size)  # fmt: skip
    vals[:s, 0] = motion[:s]
    vals[:s, 1] = occlusion[:s]
    if window_centres.size:
        vals[:, 2] = np.interp(times, window_centres, track_speed)
        vals[:, 3] = np.interp(times, window_centres, flow_magnitude)
    return VideoSteps(times=np.asarray(times, np.float64), values=vals)
