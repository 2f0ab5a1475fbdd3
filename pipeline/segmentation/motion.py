"""Per-step motion energy from the stored point tracks (a raw-track feature at 10 Hz).

Window-level statistics (``track_speed``, ``flow_magnitude``) average 1.6 s of motion and blur
boundaries that sit 0.5-1 s apart. This feature keeps one value per target-rate step:

1. Step ``s`` takes the velocities of the window that starts latest at or before it (window
   ``s // stride``, step ``s - w * stride`` inside it; the last window for the tail), the same
   rule as the per-step code timeline. Points invisible at the end of the step count as still.
2. Persistent motion of a grid point (a conveyor belt under it) is removed: its per-axis median
   velocity over the video is subtracted.
3. Each point's noise floor is removed: its residual speed minus its median residual speed and
   ``noise_k`` robust deviations (1.4826 MAD), clipped at 0.
4. The step's energy is the sum over points, in normalized units per step (0 = nothing moves
   beyond noise). Gated windows' steps are 0 (the tracker stored zero velocities).

Human movements are sequences of bell-shaped velocity profiles whose minima separate primitives
(minimum-jerk reaching); change points on this energy find those transitions. Pure numpy,
deterministic. Memory: steps x points x 2 float32 (~115 MB per hour of video at 10 Hz, N=400).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np

from pipeline.window_tracks import WindowTracks

log = logging.getLogger(__name__)

NOISE_K = 3.0


def step_velocities(parts: Iterable[WindowTracks], *, stride: int) -> tuple[np.ndarray, np.ndarray]:
    """(S, N, 2) float32 per-step velocities (invisible points 0) and (S,) bool covered.

    ``parts``: the video's track files in any order (windows keyed by ``window_index``). Only the
    first ``stride`` steps of each window are kept (all steps of the last one), so memory stays
    at one velocity field per step."""
    heads: dict[int, np.ndarray] = {}
    last: tuple[int, np.ndarray] | None = None
    for tr in parts:
        for i, w in enumerate(tr.window_index):
            vis = tr.visibility[i, 1:, :, None]  # (S, N, 1) visible at the end of each step
            vel = np.where(vis, tr.velocities[i], 0.0).astype(np.float32)  # (S, N, 2)
            heads[int(w)] = vel[:stride]
            if last is None or int(w) > last[0]:
                last = (int(w), vel)
    if last is None:
        return np.zeros((0, 0, 2), np.float32), np.zeros(0, bool)
    heads[last[0]] = last[1]
    n_steps = last[0] * stride + last[1].shape[0]
    out = np.zeros((n_steps, last[1].shape[1], 2), np.float32)
    covered = np.zeros(n_steps, bool)
    for w, vel in heads.items():
        out[w * stride : w * stride + vel.shape[0]] = vel
        covered[w * stride : w * stride + vel.shape[0]] = True
    if not covered.all():  # steps of missing windows stay 0
        log.warning("%d of %d steps have no window (missing windows)", (~covered).sum(), n_steps)
    return out, covered


def motion_energy(velocities: np.ndarray, *, noise_k: float = NOISE_K) -> np.ndarray:
    """(S,) float64 per-step motion energy of (S, N, 2) velocities (module doc, steps 2-4)."""
    v = np.asarray(velocities, dtype=np.float64)
    if v.ndim != 3 or v.shape[0] == 0:
        return np.zeros(v.shape[0] if v.ndim else 0)
    residual = np.linalg.norm(v - np.median(v, axis=0), axis=2)  # (S, N)
    floor = np.median(residual, axis=0)  # (N,)
    spread = 1.4826 * np.median(np.abs(residual - floor), axis=0)  # (N,)
    return np.clip(residual - floor - noise_k * spread, 0.0, None).sum(axis=1)
