"""Per-step motion evidence from the stored point tracks (raw-track features at 10 Hz).

Window-level statistics (``track_speed``, ``flow_magnitude``) average 1.6 s of motion and blur
boundaries that sit 0.5-1 s apart. The features here keep one value per target-rate step:

1. Step ``s`` takes the velocities of the window that starts latest at or before it (window
   ``s // stride``, step ``s - w * stride`` inside it; the last window for the tail), the same
   rule as the per-step code timeline. Each window re-seeds the same grid, so point ``n`` of
   consecutive windows sits at the same place: a point's velocities form one series at a fixed
   grid location. A point is *lost* at a step when it is invisible at the step's end (the
   forward-backward check failed: fast motion or occlusion); its velocity counts as 0.
2. Persistent motion of a grid point (a belt running under it) is removed: its per-axis median
   velocity over the video is subtracted.
3. **Conveyor filter.** Items carried past on a belt move a point only now and then, so the
   median keeps them; but they always move the same way, while a worker's hands go back and
   forth. A point's *directional persistence* is ``|sum v| / sum |v|`` over the steps where it
   moves; points at or above ``PERSISTENCE_OFF`` get weight 0, at or below ``PERSISTENCE_ON``
   weight 1, linear between.
4. **Motion energy.** Each point's residual velocity is smoothed over time (Gaussian, sigma
   ``smooth_steps``; noise is zero-mean and cancels, slow consistent motion such as a grasp
   adds up), then its noise floor is removed: speed minus its median speed and ``noise_k``
   robust deviations (1.4826 MAD), clipped at 0. The step's energy is the weighted sum over
   points, in normalized units per step.
5. **Occlusion energy.** The tracker loses points where the hand moves fast or covers them, so
   the fastest steps of a motion lose the most velocity evidence. The step's occlusion energy
   is the weighted number of lost points above each point's usual loss rate (its median).

Both grow with the age of the points inside a window (a window's 1st step has fresh points,
its 4th has points tracked for 4 steps), a saw-tooth with the stride as period; the segmentation
signals remove it by standardising each phase ``s % stride`` on its own.

Human movements are sequences of bell-shaped velocity profiles whose minima separate primitives
(minimum-jerk reaching); change points on these energies find those transitions. Pure numpy /
scipy, deterministic. Memory: the per-step velocities are steps x points x 2 float32 (~115 MB per
hour of video at 10 Hz, N = 400); computing the features peaks at about 4x that.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from pipeline.tracks.window_tracks import WindowTracks

log = logging.getLogger(__name__)

NOISE_K = 3.0
PERSISTENCE_ON = 0.55  # at or below: weight 1 (a hand moving back and forth)
PERSISTENCE_OFF = 0.85  # at or above: weight 0 (items carried one way)
MIN_SPEED = 5e-4  # normalized units per step (~0.08 px on a 320 px side): the least noise floor
MIN_EPISODES = 3  # separate runs of motion a point needs before it can be judged a conveyor
EPISODE_GAP = 3  # still steps that end an episode


@dataclass(frozen=True)
class StepTracks:
    """One video's per-step track evidence (module doc, step 1)."""

    velocities: np.ndarray  # (S, N, 2) float32, lost points 0
    lost: np.ndarray  # (S, N) bool: invisible at the end of the step
    covered: np.ndarray  # (S,) bool: some window covers the step

    @property
    def num_steps(self) -> int:
        return int(self.velocities.shape[0])


@dataclass(frozen=True)
class MotionFeatures:
    """Per-step energies of one video (``motion_features``)."""

    motion: np.ndarray  # (S,) float64 motion energy
    occlusion: np.ndarray  # (S,) float64 occlusion energy
    point_weight: np.ndarray  # (N,) conveyor-filter weight of each grid point
    # (S, 6) where and how the moving points move (segmenters.repeat.SPATIAL_COLUMNS)
    spatial: np.ndarray | None = None
    # the moving points split into a left and a right group (two hands; ``hand_groups``)
    hands: HandGroups | None = None


@dataclass(frozen=True)
class HandGroups:
    """The video's moving points split at one vertical line into a left and a right group
    (``hand_groups``): each group's motion and occlusion energies, and how much the split looks
    like two independent motion sources."""

    threshold: float  # x of the split line, the frame's [-1, 1] coordinates
    reduction: float  # share of the moving points' x variance the two groups explain
    correlation: float  # of the two groups' sqrt motion energies, over the steps where one moves
    motion: np.ndarray  # (S, 2) motion energy of the left and the right group
    occlusion: np.ndarray  # (S, 2) occlusion energy of each group

    @property
    def score(self) -> float:
        """``reduction x (1 - |correlation|)``: high for two separate, independent movers (one
        arm across the split moves both groups together: positive; one mover passing from one
        side to the other moves them in turn: negative)."""
        return float(self.reduction * (1.0 - abs(self.correlation)))


def step_velocities(parts: Iterable[WindowTracks], *, stride: int) -> StepTracks:
    """Per-step velocities and lost points of a video from its track files (any order,
    windows keyed by ``window_index``). Only the first ``stride`` steps of each window are kept
    (all steps of the last one), so memory stays at one velocity field per step."""
    heads: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    last: tuple[int, np.ndarray, np.ndarray] | None = None
    for tr in parts:
        for i, w in enumerate(tr.window_index):
            vis = tr.visibility[i, 1:]  # (S, N) visible at the end of each step
            vel = np.where(vis[..., None], tr.velocities[i], 0.0).astype(np.float32)
            heads[int(w)] = (vel[:stride], ~vis[:stride])
            if last is None or int(w) > last[0]:
                last = (int(w), vel, ~vis)
    if last is None:
        return StepTracks(
            np.zeros((0, 0, 2), np.float32), np.zeros((0, 0), bool), np.zeros(0, bool)
        )
    heads[last[0]] = (last[1], last[2])
    n_steps = last[0] * stride + last[1].shape[0]
    n_points = last[1].shape[1]
    out = np.zeros((n_steps, n_points, 2), np.float32)
    lost = np.zeros((n_steps, n_points), bool)
    covered = np.zeros(n_steps, bool)
    for w, (vel, gone) in heads.items():
        sl = slice(w * stride, w * stride + vel.shape[0])
        out[sl], lost[sl], covered[sl] = vel, gone, True
    if not covered.all():  # steps of missing windows stay 0
        log.warning("%d of %d steps have no window (missing windows)", (~covered).sum(), n_steps)
    return StepTracks(out, lost, covered)


def _active(residual: np.ndarray, noise_k: float) -> tuple[np.ndarray, np.ndarray]:
    """(S, N) speed above each point's noise floor (clipped at 0), and the raw speed."""
    speed = np.linalg.norm(residual, axis=2)
    floor = np.median(speed, axis=0)
    spread = 1.4826 * np.median(np.abs(speed - floor), axis=0)
    threshold = np.maximum(floor + noise_k * spread, MIN_SPEED)
    return np.clip(speed - threshold, 0.0, None), speed


def conveyor_weights(residual: np.ndarray, *, noise_k: float = NOISE_K) -> np.ndarray:
    """(N,) weight of each point from its directional persistence (module doc, step 3);
    ``residual``: (S, N, 2) velocities with each point's median removed. Points that never
    move keep weight 1 (they add nothing anyway)."""
    active, speed = _active(residual, noise_k)
    moving = active > 0
    resultant = np.linalg.norm(np.where(moving[..., None], residual, 0.0).sum(axis=0), axis=1)
    path = np.where(moving, speed, 0.0).sum(axis=0)
    persistence = np.divide(resultant, path, out=np.zeros_like(path), where=path > 0)
    span = PERSISTENCE_OFF - PERSISTENCE_ON
    weight = np.clip((PERSISTENCE_OFF - persistence) / span, 0.0, 1.0)
    return np.where(episodes(moving) >= MIN_EPISODES, weight, 1.0)


def episodes(moving: np.ndarray, *, gap: int = EPISODE_GAP) -> np.ndarray:
    """(N,) number of separate runs of ``True`` in each column of (S, N) ``moving``; runs
    separated by fewer than ``gap`` still steps count as one."""
    m = np.asarray(moving, bool)
    if m.shape[0] == 0:
        return np.zeros(m.shape[1:], np.int64)
    # a step is "recently moving" if any of the last `gap` steps moved: closes short gaps
    c = np.cumsum(np.vstack([np.zeros((1, m.shape[1]), np.int64), m]), axis=0)
    lag = np.maximum(np.arange(1, m.shape[0] + 1) - gap, 0)
    recent = (c[1:] - c[lag]) > 0
    starts = m & ~np.vstack([np.zeros((1, m.shape[1]), bool), recent[:-1]])
    return starts.sum(axis=0)


def motion_features(
    steps: StepTracks,
    *,
    noise_k: float = NOISE_K,
    smooth_steps: float = 1.0,
    conveyor_filter: bool = True,
) -> MotionFeatures:
    """Motion and occlusion energies of one video (module doc, steps 2-5)."""
    residual = np.array(steps.velocities, dtype=np.float32)  # a copy, changed in place
    if residual.ndim != 3 or residual.shape[0] == 0 or residual.shape[1] == 0:
        s = residual.shape[0] if residual.ndim else 0
        n = residual.shape[1] if residual.ndim == 3 else 0
        return MotionFeatures(np.zeros(s), np.zeros(s), np.ones(n))
    residual -= np.median(residual, axis=0)
    n_points = residual.shape[1]
    weight = (
        conveyor_weights(residual, noise_k=noise_k) if conveyor_filter else np.ones(n_points)
    ).astype(np.float32)
    if smooth_steps > 0:
        residual = gaussian_filter1d(residual, smooth_steps, axis=0, mode="nearest")
    active, _ = _active(residual, noise_k)
    spatial = spatial_descriptors(active * weight, residual)
    del residual
    lost = steps.lost.astype(np.float32)
    lost -= np.median(lost, axis=0)
    return MotionFeatures(
        motion=(active @ weight).astype(np.float64),
        occlusion=np.clip(lost @ weight, 0.0, None).astype(np.float64),
        point_weight=weight.astype(np.float64),
        spatial=spatial,
        hands=hand_groups(active * weight, lost * weight),
    )


def grid_x(n: int) -> np.ndarray:
    """(N,) x of each grid point in [-1, 1] (row-major square grid, as ``spatial_descriptors``)."""
    g = max(1, int(round(np.sqrt(n))))
    return (np.arange(n) % g + 0.5) / g * 2 - 1


def split_1d(x: np.ndarray, w: np.ndarray) -> tuple[float, float]:
    """Weighted 2-means of 1-d positions ``x`` (weights ``w`` >= 0): the split position
    (midway between the two points either side of it) and the share of the weighted variance
    the two groups explain, ``1 - within / total`` (0 when there is nothing to split)."""
    o = np.argsort(x, kind="stable")
    x, w = np.asarray(x, np.float64)[o], np.asarray(w, np.float64)[o]
    cw, cx, cxx = np.cumsum(w), np.cumsum(w * x), np.cumsum(w * x * x)
    if x.size < 2 or cw[-1] <= 0:
        return 0.0, 0.0
    total = cxx[-1] - cx[-1] ** 2 / cw[-1]
    wl, wr = cw[:-1], cw[-1] - cw[:-1]
    ok = (x[:-1] < x[1:]) & (wl > 0) & (wr > 0)
    if total <= 1e-12 or not ok.any():
        return 0.0, 0.0
    wl_, wr_ = np.where(ok, wl, 1.0), np.where(ok, wr, 1.0)
    within = cxx[:-1] - cx[:-1] ** 2 / wl_ + (cxx[-1] - cxx[:-1]) - (cx[-1] - cx[:-1]) ** 2 / wr_
    within = np.where(ok, within, np.inf)
    i = int(np.argmin(within))
    return float((x[i] + x[i + 1]) / 2), float(np.clip(1.0 - within[i] / total, 0.0, 1.0))


def hand_groups(active: np.ndarray, lost: np.ndarray) -> HandGroups | None:
    """Split the points at the weighted 2-means of the moving points' x positions (``active``:
    (S, N) weighted speed above the noise floor, pooled over the video; ``lost``: (S, N)
    weighted lost points above their usual rate) into a left and a right group, with each
    group's energies; their correlation is taken over the steps where either group moves (the
    still steps would make any two movers look alike). None when nothing moves or one side
    never moves."""
    if active.ndim != 2 or active.shape[0] < 2 or active.shape[1] < 2:
        return None
    x = grid_x(active.shape[1])
    threshold, reduction = split_1d(x, active.sum(axis=0))
    left = x < threshold
    motion = np.column_stack([active[:, left].sum(1), active[:, ~left].sum(1)]).astype(np.float64)
    root = np.sqrt(motion)[motion.sum(axis=1) > 0]
    if root.shape[0] < 2 or (root.std(axis=0) <= 1e-12).any():
        return None
    correlation = float(np.corrcoef(root[:, 0], root[:, 1])[0, 1])
    occlusion = np.column_stack([lost[:, left].sum(1), lost[:, ~left].sum(1)])
    return HandGroups(
        threshold=threshold,
        reduction=reduction,
        correlation=correlation,
        motion=motion,
        occlusion=np.clip(occlusion, 0.0, None).astype(np.float64),
    )


def spatial_descriptors(active: np.ndarray, residual: np.ndarray) -> np.ndarray:
    """(S, 6) per step: total weight of the moving points (``active``, (S, N)), their
    weighted centroid on the square grid (x, y in [-1, 1]) and the weighted second moments of
    their velocity (``residual``, (S, N, 2)): vxx, vyy, vxy; 0 where nothing moves."""
    n = active.shape[1]
    g = max(1, int(round(np.sqrt(n))))
    c = (np.arange(n) % g + 0.5) / g * 2 - 1, (np.arange(n) // g + 0.5) / g * 2 - 1
    total = active.sum(axis=1)
    den = np.where(total > 0, total, 1.0)
    vx, vy = residual[..., 0], residual[..., 1]
    cols = [active @ c[0], active @ c[1]]
    cols += [(active * vx * vx).sum(1), (active * vy * vy).sum(1), (active * vx * vy).sum(1)]
    return np.column_stack([total, *(np.asarray(x) / den for x in cols)]).astype(np.float64)


def phase_standardize(x: np.ndarray, period: int) -> np.ndarray:
    """(S,) x with each phase ``s % period`` robustly standardised on its own (median, 1.4826
    MAD, the std where the MAD is 0; a constant phase becomes 0): removes the saw-tooth that the
    age of the tracked points puts on per-step features (module doc)."""
    x = np.asarray(x, dtype=np.float64)
    out = np.zeros_like(x)
    phase = np.arange(x.size) % max(1, int(period))
    for p in np.unique(phase):
        sel = phase == p
        med = np.median(x[sel])
        scale = 1.4826 * np.median(np.abs(x[sel] - med))
        if scale <= 1e-12:
            scale = float(x[sel].std())
        out[sel] = (x[sel] - med) / scale if scale > 1e-12 else 0.0
    return out
