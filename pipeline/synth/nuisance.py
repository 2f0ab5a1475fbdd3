"""Camera and sensor nuisances: shake (random walk + bumps), lighting flicker, sensor noise.

All are precomputed per frame from the video's seed (``Nuisance``), and ``apply`` is a pure
function of (image, frame index), so a frame renders the same whatever was rendered before.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.special import ndtri

from pipeline.synth.script import rng_for

LIGHT_STREAM = 4  # seed stream ids (see ``script.rng_for``)
NOISE_STREAM = 5
SHAKE_STREAM = 6
SHAKE_DECISION_STREAM = 7


@dataclass(frozen=True)
class Nuisance:
    """Per-frame camera offsets and gain; sensor noise parameters.

    ``shake``: (N, 3) dx, dy (design px) and rotation (degrees), or ``None`` for a steady
    camera; ``gain``: (N,) global brightness factor; ``noise_sigma``: gray levels.
    """

    shake: np.ndarray | None
    gain: np.ndarray
    noise_sigma: float
    noise_lut: np.ndarray  # (256,) uint8: uniform byte -> 128 + gaussian noise
    seed: int


def _ou(n: int, fps: float, std: float, tau_sec: float, rng: np.random.Generator) -> np.ndarray:
    """Ornstein-Uhlenbeck random walk (n,) with stationary ``std`` and time constant ``tau``."""
    theta = 1.0 - np.exp(-1.0 / (tau_sec * fps))
    sigma = std * np.sqrt(theta * (2.0 - theta))
    x = np.empty(n)
    x[0] = rng.normal(0.0, std)
    eps = rng.normal(0.0, sigma, n)
    for i in range(1, n):
        x[i] = (1.0 - theta) * x[i - 1] + eps[i]
    return x


def _bumps(n: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Occasional knocks on the bench: damped oscillations (n, 2) in design px."""
    out = np.zeros((n, 2))
    t = float(rng.uniform(2.0, 12.0))
    while t * fps < n:
        i0 = int(t * fps)
        m = min(n - i0, int(0.5 * fps) + 1)
        tt = np.arange(m) / fps
        amp, freq = rng.uniform(3.0, 7.0), rng.uniform(4.0, 9.0)
        ang = rng.uniform(0, 2 * np.pi)
        wave = amp * np.exp(-tt / 0.12) * np.sin(2 * np.pi * freq * tt)
        out[i0 : i0 + m] += wave[:, None] * np.array([np.cos(ang), np.sin(ang)])
        t += float(rng.uniform(6.0, 20.0))
    return out


def _gain(n: int, fps: float, rng: np.random.Generator) -> np.ndarray:
    """Flicker: slow sinusoid (1-3.5 %) x random small steps (every ~5-15 s) x jitter."""
    t = np.arange(n) / fps
    wave = 1.0 + rng.uniform(0.01, 0.035) * np.sin(
        2 * np.pi * rng.uniform(0.3, 1.5) * t + rng.uniform(0, 2 * np.pi)
    )
    level, steps, i = 1.0, np.ones(n), int(rng.uniform(3.0, 15.0) * fps)
    while i < n:
        level = float(np.clip(level * rng.uniform(0.95, 1.05), 0.88, 1.12))
        steps[i:] = level
        i += int(rng.uniform(5.0, 15.0) * fps)
    return wave * steps * (1.0 + rng.normal(0.0, 0.003, n))


def draws_shake(seed: int, prob: float) -> bool:
    """Whether the video of ``seed`` has camera shake when the caller does not force it."""
    return bool(rng_for(seed, SHAKE_DECISION_STREAM).random() < prob)


def make_nuisance(n_frames: int, fps: float, seed: int, shake: bool) -> Nuisance:
    """Draw this video's nuisances; ``shake`` switches camera shake on.

    Shake, lighting and noise use separate seed streams: switching shake on or off leaves the
    flicker and the sensor noise of the video unchanged.
    """
    shake_arr = None
    if shake:
        rng = rng_for(seed, SHAKE_STREAM)
        std = rng.uniform(0.5, 3.0)
        rot = rng.uniform(0.05, 0.25)
        walk = np.stack(
            [
                _ou(n_frames, fps, std, 0.8, rng),
                _ou(n_frames, fps, std, 0.8, rng),
                _ou(n_frames, fps, rot, 1.2, rng),
            ],
            axis=1,
        )
        walk[:, :2] += _bumps(n_frames, fps, rng)
        shake_arr = walk
    rng = rng_for(seed, LIGHT_STREAM)
    sigma = float(rng.uniform(2.0, 4.0))
    q = ndtri((np.arange(256) + 0.5) / 256.0)
    lut = np.clip(np.round(128.0 + sigma * q), 0, 255).astype(np.uint8)
    return Nuisance(shake_arr, _gain(n_frames, fps, rng), sigma, lut, int(seed))


def apply(img: np.ndarray, frame: int, nz: Nuisance, k: float) -> np.ndarray:
    """Shake (warp), flicker (gain) and sensor noise of ``frame`` applied to RGB ``img``."""
    h, w = img.shape[:2]
    if nz.shake is not None:
        dx, dy, rot = nz.shake[frame]
        m = cv2.getRotationMatrix2D((0.5 * w, 0.5 * h), float(rot), 1.0)
        m[:, 2] += (dx * k, dy * k)
        img = cv2.warpAffine(
            img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT101
        )
    rng = np.random.default_rng([nz.seed, NOISE_STREAM, frame])
    raw = np.frombuffer(rng.bytes(img.size), np.uint8).reshape(img.shape)
    noise = cv2.LUT(raw, nz.noise_lut)
    return cv2.addWeighted(img, float(nz.gain[frame]), noise, 1.0, -128.0)
