"""Latent Action Energy and per-step latent timelines (docs/method.md stage 4). Pure numpy.

Everything is keyed by **window index** (window ``w`` starts at target-rate frame
``w * stride_frames``), never by a counter of kept windows, and carries its times:

- ``EnergySeries.t_sec`` is the **centre** of each window, ``(start_sec + end_sec) / 2`` with the
  tracker's window start/end times. A segmenter maps a window index to this time.
- ``StepTimeline.t_sec`` is the **start** of each step: step ``s`` is the velocity from target
  frame ``s`` to ``s + 1``; its time is that of frame ``s`` (``s / target_fps`` plus the video's
  first-frame time). A change point "before step k" is therefore at frame ``k``.

Windows flagged ``gated`` by the motion gate are idle: their energy is 0 and their latents
contribute zero vectors to the step timeline (they still count in the average).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from pipeline.errors import EnergyError

log = logging.getLogger(__name__)


def latent_action_energy(z: np.ndarray) -> np.ndarray:
    """LAE per window: ``E_w = mean_i || z[w, i+1] - z[w, i] ||_2``.

    z: (W, T-1, D) quantized (or pre-quantization) latents, T-1 >= 2 steps. Returns (W,) float64.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 3 or z.shape[1] < 2:
        raise EnergyError(f"expected latents of shape (W, T-1>=2, D), got {z.shape}")
    return np.linalg.norm(np.diff(z, axis=1), axis=2).mean(axis=1)


def _check_index(window_index: np.ndarray, n: int) -> np.ndarray:
    idx = np.asarray(window_index)
    if idx.shape != (n,):
        raise EnergyError(f"window_index shape {idx.shape} does not match {n} windows")
    if not np.issubdtype(idx.dtype, np.integer):
        raise EnergyError(f"window_index must be integers, got dtype {idx.dtype}")
    if n and (idx[0] < 0 or np.any(np.diff(idx) <= 0)):
        raise EnergyError(f"window_index must be >= 0 and strictly increasing, got {idx[:8]}...")
    return idx.astype(np.int64)


def _gate_mask(gated: np.ndarray | None, n: int) -> np.ndarray:
    if gated is None:
        return np.zeros(n, dtype=bool)
    g = np.asarray(gated, dtype=bool)
    if g.shape != (n,):
        raise EnergyError(f"gated shape {g.shape} does not match {n} windows")
    return g


@dataclass(frozen=True)
class EnergySeries:
    """One energy value per window: ``window_index`` (W,) int, ``t_sec`` (W,) window centres in
    seconds of the source video, ``values`` (W,) float, ``name`` of the energy variant."""

    window_index: np.ndarray
    t_sec: np.ndarray
    values: np.ndarray
    name: str = "lae"

    def __post_init__(self) -> None:
        n = int(np.size(self.values))
        _check_index(self.window_index, n)
        if np.shape(self.t_sec) != (n,) or np.shape(self.values) != (n,):
            raise EnergyError(
                f"t_sec {np.shape(self.t_sec)} / values {np.shape(self.values)} must be ({n},)"
            )
        if n > 1 and np.any(np.diff(self.t_sec) <= 0):
            raise EnergyError("t_sec must be strictly increasing")

    @classmethod
    def from_windows(
        cls,
        values: np.ndarray,
        *,
        window_index: np.ndarray,
        start_sec: np.ndarray,
        end_sec: np.ndarray,
        gated: np.ndarray | None = None,
        name: str = "lae",
    ) -> EnergySeries:
        """Energy at window centres; gated windows get energy 0 (idle)."""
        v = np.asarray(values, dtype=np.float64).copy()
        v[_gate_mask(gated, v.size)] = 0.0
        centre = (np.asarray(start_sec, float) + np.asarray(end_sec, float)) / 2.0
        return cls(_check_index(window_index, v.size), centre, v, name)


@dataclass(frozen=True)
class StepTimeline:
    """Per-step latent timeline: ``values`` (S, D); ``coverage`` (S,) number of windows averaged
    at each step (0 = no window covers it, the vector is zero); ``step_index`` (S,) = 0..S-1."""

    values: np.ndarray
    coverage: np.ndarray

    @property
    def step_index(self) -> np.ndarray:
        return np.arange(self.values.shape[0])

    def t_sec(self, *, fps: float, t0_sec: float = 0.0) -> np.ndarray:
        """Start time of each step (the time of frame ``s``) at target rate ``fps``."""
        if fps <= 0:
            raise EnergyError(f"fps must be > 0, got {fps}")
        return t0_sec + self.step_index / fps


def step_timeline(
    z: np.ndarray,
    window_index: np.ndarray,
    *,
    stride: int,
    gated: np.ndarray | None = None,
    num_steps: int | None = None,
) -> StepTimeline:
    """Average the latents of all windows covering each step.

    z: (W, T-1, D) latents; window ``w`` (index ``window_index[w]``) covers steps
    ``[window_index[w] * stride, window_index[w] * stride + T-1)``. Gated windows add zero
    vectors. ``num_steps`` defaults to the end of the last window; steps past it are dropped.
    Returns ``StepTimeline`` with values (S, D) float64.
    """
    z = np.asarray(z, dtype=np.float64)
    if z.ndim != 3:
        raise EnergyError(f"expected latents of shape (W, T-1, D), got {z.shape}")
    if stride < 1:
        raise EnergyError(f"stride must be >= 1 step, got {stride}")
    n_win, steps, dim = z.shape
    idx = _check_index(window_index, n_win)
    gate = _gate_mask(gated, n_win)
    starts = idx * stride
    total = int(starts[-1] + steps) if n_win else 0
    n_steps = total if num_steps is None else int(num_steps)
    acc = np.zeros((max(total, n_steps), dim))
    cover = np.zeros(max(total, n_steps), dtype=np.int64)
    contrib = np.where(gate[:, None, None], 0.0, z)
    for offset in range(steps):  # T-1 vectorized passes instead of W python iterations
        np.add.at(acc, starts + offset, contrib[:, offset])
        np.add.at(cover, starts + offset, 1)
    acc, cover = acc[:n_steps], cover[:n_steps]
    values = np.divide(acc, cover[:, None], out=np.zeros_like(acc), where=cover[:, None] > 0)
    if n_steps and np.any(cover == 0):
        log.debug(
            "step timeline: %d of %d steps covered by no window", int(np.sum(cover == 0)), n_steps
        )
    return StepTimeline(values=values, coverage=cover)


def ema(x: np.ndarray, *, alpha: float) -> np.ndarray:
    """Causal exponential moving average ``y_t = alpha*x_t + (1-alpha)*y_{t-1}``, ``y_0 = x_0``.

    x: (n,) or (n, d) along axis 0. Causal: ``ema(x[:k]) == ema(x)[:k]``.
    """
    if not 0 < alpha <= 1:
        raise EnergyError(f"alpha must be in (0, 1], got {alpha}")
    x = np.asarray(x, dtype=np.float64)
    if x.shape[0] == 0:
        return x.copy()
    zi = (1.0 - alpha) * x[:1]  # initial state so that y_0 = x_0
    from scipy.signal import lfilter  # scipy.signal takes ~0.7 s to import: only when used

    y, _ = lfilter([alpha], [1.0, alpha - 1.0], x, axis=0, zi=zi)
    return y
