"""Tiny synthetic signals for the segmentation tests (generated, deterministic)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

Piecewise = tuple[np.ndarray, np.ndarray, np.ndarray]


def make_piecewise(
    seed: int,
    *,
    n: int,
    dim: int,
    min_len: int,
    max_len: int,
    noise: float,
    rho: float = 0.5,
    fps: float = 10.0,
) -> Piecewise:
    """(signal (n, dim), times (n,), true change times (s)): piecewise-constant means drawn from
    N(0, 1) per segment, consecutive means distinct, AR(1)-correlated Gaussian noise."""
    rng = np.random.default_rng(seed)
    ends: list[int] = []
    pos = 0
    while pos < n:
        pos = min(n, pos + int(rng.integers(min_len, max_len + 1)))
        ends.append(pos)
    if n - ends[-2] < min_len:  # keep the last segment at least min_len long
        ends.pop(-2)
    x = np.empty((n, dim))
    start = 0
    for end in ends:
        x[start:end] = rng.normal(0.0, 1.0, dim)
        start = end
    e = rng.normal(0.0, 1.0, (n, dim))
    for t in range(1, n):
        e[t] = rho * e[t - 1] + np.sqrt(1 - rho**2) * e[t]
    times = np.arange(n) / fps
    return x + noise * e, times, times[np.array(ends[:-1])]


@pytest.fixture
def piecewise() -> Callable[..., Piecewise]:
    return make_piecewise
