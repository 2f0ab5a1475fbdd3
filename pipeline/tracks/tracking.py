"""Point tracking over overlapping windows on CPU (docs/method.md stage 2).

Window ``k`` of a chunk starts at the chunk's ``k * stride``-th normalized frame and spans T frames;
its global index is ``first_window_index + k``; only full windows are emitted. An S x S grid is
seeded over the whole frame at each window start (``window_tracks.seed_grid``).

Work is shared: each consecutive frame pair is processed once (one forward and one backward DIS
field, or one LK call on all points), for all active windows (up to ceil(T / stride)) at once.
Frames are consumed once from the iterator; memory holds the previous frame, the active windows'
points and the finished windows of this chunk (~55 KB each at T=16, N=400).

Per pair:
- gate: mean abs difference of the downscaled gray frames (gray levels 0..255); a pair under
  ``gate_threshold`` gets zero motion without computing flow. A window whose pairs are ALL under
  the gate is ``gated`` (idle): it stays in the output with its index, zero velocities and all
  points visible. Measured at 320x240 (downscale 4): identical frames 0; static scene through
  H.264 (crf 23) 0.00-0.14; raw sensor noise sigma=1 / 3 gray levels 0.30 / 0.85; a 20x20 px
  patch moving 2 px ~0.05; a 50x50 px hand moving 6 px ~1.4; a conveyor band 6.6. The default
  0.1 is conservative: it gates exact repeats and clean compressed static video, never noisy
  raw video, and may zero a pair whose only motion is a tiny object (a few px of a few hundred);
- visibility: forward-backward error <= ``fb_threshold_px`` and inside the frame. Once invisible,
  a point stays invisible within its window and HOLDS its last position: its velocity is 0 on
  the step where it was lost and afterwards.

Per window: camera compensation (``camera_motion``), then velocities in normalized units, and the
baseline statistics ``track_speed`` (normalized units per step, after compensation),
``flow_magnitude`` (px per step; gated pairs count 0) and ``pixel_diff`` (the gate's value).

Accuracy of the default (DIS ultrafast on 1/4-resolution frames) on synthetic textured motion:
per-step velocity error ~0.04-0.06 px; positions drift by a few hundredths of a px per step
(~0.3 px mean, up to ~0.6 px after 15 steps). Limitation: small fast objects (a 60 px patch at
12 px/frame) are lost by the 1/4-resolution flow; ``flow_downscale=2`` tracks more but costs ~4x.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from pydantic import Field

from pipeline.config import FrozenConfig, WindowConfig
from pipeline.io.video import Frame
from pipeline.tracks.camera_motion import CameraMode, compensate_camera, mean_visible_speed
from pipeline.tracks.flow import (
    DisMover,
    DisPreset,
    LkMover,
    PairMotion,
    PointMover,
    PreparedFrame,
    downscale,
    flow_size,
    mean_abs_diff,
    to_gray,
)
from pipeline.tracks.window_tracks import WindowTracks, seed_grid

__all__ = ["TrackingConfig", "WindowTracks", "iter_window_batches", "track_windows"]

log = logging.getLogger(__name__)


class TrackingConfig(FrozenConfig):
    """How points are tracked through windows.

    Cost of the defaults, one OpenCV thread, CPU time at 10 fps: ~0.016 s per video second at
    320x240, ~0.028 s at 426x320 (``tests/tracking/bench_tracking.py``).
    """

    method: Literal["dis", "lk"] = "dis"
    dis_preset: DisPreset = Field("ultrafast", description="OpenCV DIS preset (method 'dis')")
    flow_downscale: int = Field(
        4, ge=1, le=16, description="DIS runs on frames area-downscaled by this factor; the "
        "pixel-difference gate uses the same downscaled frames",
    )  # fmt: skip
    dis_patch_stride: int | None = Field(
        6, ge=1, description="override the preset's DIS patch stride (4 for ultrafast/fast); "
        "6 (default) is ~1.7x faster than 4; 8 is faster still but misses the 0.5 px rotation test",
    )  # fmt: skip
    dis_gd_iterations: int | None = Field(
        8, ge=1, description="DIS gradient-descent iterations per scale (preset: 12 for "
        "ultrafast); 8 passes the same accuracy tests ~5% faster",
    )  # fmt: skip
    backward_finest_scale: int = Field(
        1, ge=0, le=3, description="DIS finest scale of the backward field (visibility check "
        "only): 0 = same grid as the forward flow, 1 = half its resolution (~4x cheaper)",
    )  # fmt: skip
    fb_threshold_px: float = Field(
        2.0, gt=0, description="forward-backward error a point may always have, px"
    )
    fb_relative: float = Field(
        0.01, ge=0, description="plus this share of |forward|^2 + |backward|^2 (Sundaram 2010: "
        "0.01); the check is |f + b|^2 <= relative * (|f|^2 + |b|^2) + fb_threshold_px^2",
    )  # fmt: skip
    gate_threshold: float = Field(
        0.1, ge=0, description="pairs with mean abs gray difference (downscaled frames, 0..255) "
        "under this get zero motion; 0 disables the gate",
    )  # fmt: skip
    camera_compensation: CameraMode = "auto"
    camera_share_threshold: float = Field(
        0.4, ge=0, description="auto mode compensates when the global motion share is >= this"
    )
    camera_eps_px: float = Field(
        0.05, gt=0, description="px per step added to the share's denominator (static windows)"
    )
    lk_win_size: int = Field(15, ge=3, description="LK window side, px (method 'lk')")
    lk_max_level: int = Field(3, ge=0, description="LK pyramid levels above the base")


@dataclass
class _OpenWindow:
    """A window being tracked: positions in continuous px, filled frame by frame."""

    k: int
    positions: np.ndarray  # (T, N, 2) float64 px
    visible: np.ndarray  # (T, N) bool
    frame_index: list[int] = field(default_factory=list)
    t_sec: list[float] = field(default_factory=list)
    pair_gated: list[bool] = field(default_factory=list)
    pair_magnitude: list[float] = field(default_factory=list)
    pair_diff: list[float] = field(default_factory=list)

    @property
    def filled(self) -> int:
        return len(self.frame_index)


@dataclass
class _Rows:
    """Finished windows as lists of per-window values, turned into ``WindowTracks`` at the end."""

    cols: dict[str, list] = field(default_factory=dict)

    def add(self, **values: object) -> None:
        for name, value in values.items():
            self.cols.setdefault(name, []).append(value)

    def __len__(self) -> int:
        return len(self.cols.get("window_index", []))


def make_mover(cfg: TrackingConfig) -> PointMover:
    """The point mover for ``cfg.method``."""
    if cfg.method == "dis":
        return DisMover(
            cfg.dis_preset, cfg.dis_patch_stride, cfg.backward_finest_scale, cfg.dis_gd_iterations
        )
    if cfg.method == "lk":
        return LkMover(cfg.lk_win_size, cfg.lk_max_level)
    raise ValueError(f"unknown tracking method {cfg.method!r}")


class _Tracker:
    """Streaming state of ``track_windows``: open windows and the previous frame."""

    def __init__(
        self,
        window_cfg: WindowConfig,
        cfg: TrackingConfig,
        first: int,
        frame_size: tuple[int, int] | None = None,
    ) -> None:
        self.wcfg, self.cfg, self.first = window_cfg, cfg, first
        self.nominal = frame_size
        self.mover = make_mover(cfg)
        self.open: list[_OpenWindow] = []
        self.rows = _Rows()
        self.prev: PreparedFrame | None = None
        self.prev_index = -1
        self.seed: np.ndarray | None = None
        self.frame_size = (0, 0)
        self.pairs_computed = self.pairs_gated = 0

    def prepare(self, frame: Frame) -> PreparedFrame:
        """Gray + downscaled frame; checks the size and that source indexes increase."""
        gray = to_gray(frame.image)
        size = (gray.shape[1], gray.shape[0])
        pre_scaled = self.nominal is not None and size != self.nominal
        if pre_scaled:
            want = flow_size(self.nominal, self.cfg.flow_downscale)
            if self.cfg.method != "dis" or size != want:
                raise ValueError(
                    f"frame {frame.index} has size {size}; expected the normalized size "
                    f"{self.nominal} or, for method 'dis', the flow size {want}"
                )
            size = self.nominal
        if self.seed is None:
            self.frame_size = size
            self.seed = seed_grid(*size, self.wcfg.grid_size)
        elif size != self.frame_size:
            raise ValueError(f"frame {frame.index} has size {size}, expected {self.frame_size}")
        if frame.index <= self.prev_index:
            raise ValueError(f"frame index {frame.index} after {self.prev_index}: not increasing")
        self.prev_index = frame.index
        if pre_scaled:
            return PreparedFrame(gray=None, small=gray, frame_size=size)
        return PreparedFrame(gray=gray, small=downscale(gray, self.cfg.flow_downscale))

    def advance(self, cur: PreparedFrame) -> None:
        """Move every open window's points across the pair (prev, cur), one motion call."""
        if self.prev is None or not self.open:
            return
        diff = mean_abs_diff(self.prev.small, cur.small)
        gated = diff < self.cfg.gate_threshold
        last = [w.positions[w.filled - 1] for w in self.open]
        points = np.concatenate(last)
        if gated:
            motion = PairMotion.still(len(points))
            self.pairs_gated += 1
        else:
            motion = self.mover.move(self.prev, cur, points)
            self.pairs_computed += 1
        ok = motion.consistent(self.cfg.fb_threshold_px, self.cfg.fb_relative)
        k, n = len(self.open), self.wcfg.num_points
        # All open windows at once: a point stays visible while it passes the check and stays
        # inside [0, w] x [0, h]; an invisible point holds its last position.
        p0 = points.reshape(k, n, 2)
        new = p0 + motion.forward.reshape(k, n, 2)
        w_px, h_px = self.frame_size
        inside = (new[..., 0] >= 0) & (new[..., 0] <= w_px) & (new[..., 1] >= 0)
        inside &= new[..., 1] <= h_px
        prev_vis = np.stack([w.visible[w.filled - 1] for w in self.open])
        vis = prev_vis & inside & ok.reshape(k, n)
        moved = np.where(vis[..., None], new, p0)
        for i, w in enumerate(self.open):
            w.visible[w.filled] = vis[i]
            w.positions[w.filled] = moved[i]
            w.pair_gated.append(gated)
            w.pair_magnitude.append(motion.flow_magnitude)
            w.pair_diff.append(diff)

    def open_window(self, k: int) -> None:
        """Seed window ``k`` at the current frame."""
        assert self.seed is not None
        t, n = self.wcfg.window_frames, self.wcfg.num_points
        positions = np.zeros((t, n, 2))
        positions[0] = self.seed
        visible = np.zeros((t, n), bool)
        visible[0] = True
        self.open.append(_OpenWindow(k=k, positions=positions, visible=visible))

    def record(self, frame: Frame) -> int:
        """Add ``frame`` to every open window, finish the full ones; returns how many finished."""
        for w in self.open:
            w.frame_index.append(frame.index)
            w.t_sec.append(frame.t_sec)
        done = [w for w in self.open if w.filled == self.wcfg.window_frames]
        self.open = [w for w in self.open if w.filled < self.wcfg.window_frames]
        for w in done:
            self.finish(w)
        return len(done)

    def finish(self, w: _OpenWindow) -> None:
        """Turn a full window into a row: compensation, normalization, statistics."""
        width, height = self.frame_size
        vel_px = np.diff(w.positions, axis=0)  # (T-1, N, 2)
        step_vis = w.visible[1:]
        vel_px, share, applied = compensate_camera(
            vel_px, step_vis, mode=self.cfg.camera_compensation,
            share_threshold=self.cfg.camera_share_threshold, eps=self.cfg.camera_eps_px,
        )  # fmt: skip
        # Velocities are kept at float16 precision (stored that way; 2^-11 relative, i.e.
        # ~0.002 px at 0.01 normalized units on a 426 px frame, far below tracking error).
        vel = vel_px * np.array([2.0 / width, 2.0 / height])
        self.rows.add(
            window_index=self.first + w.k, frame_indices=w.frame_index,
            start_frame=w.frame_index[0], end_frame=w.frame_index[-1],
            start_sec=w.t_sec[0], end_sec=w.t_sec[-1],
            velocities=vel.astype(np.float16).astype(np.float32), visibility=w.visible,
            gated=all(w.pair_gated), camera_compensated=applied, global_motion_share=share,
            track_speed=mean_visible_speed(vel, step_vis),
            flow_magnitude=float(np.mean(w.pair_magnitude)), pixel_diff=float(np.mean(w.pair_diff)),
        )  # fmt: skip

    def take(self) -> WindowTracks:
        """The windows finished since the last call (and forget them)."""
        t, n = self.wcfg.window_frames, self.wcfg.num_points
        if not len(self.rows):
            return WindowTracks.empty(t, n, self.frame_size)
        arrays = {name: np.asarray(values) for name, values in self.rows.cols.items()}
        self.rows = _Rows()
        return WindowTracks(**arrays, frame_size=self.frame_size)


def track_windows(
    frames: Iterable[Frame],
    window_cfg: WindowConfig,
    cfg: TrackingConfig = TrackingConfig(),
    *,
    first_window_index: int = 0,
    max_windows: int | None = None,
    frame_size: tuple[int, int] | None = None,
) -> WindowTracks:
    """Track an S x S grid through every full window of ``frames`` (normalized, one chunk).

    ``frames`` is consumed once, in order (source indexes strictly increasing, one size).
    Windows are numbered ``first_window_index + k``; at most ``max_windows`` are emitted and the
    iterator is not read past the last frame they need. All windows are returned at once; use
    ``iter_window_batches`` to bound memory on long chunks.
    """
    parts = list(iter_window_batches(
        frames, window_cfg, cfg, first_window_index=first_window_index,
        max_windows=max_windows, frame_size=frame_size, batch_windows=None,
    ))  # fmt: skip
    return parts[0] if len(parts) == 1 else WindowTracks.concat(parts)


def iter_window_batches(
    frames: Iterable[Frame],
    window_cfg: WindowConfig,
    cfg: TrackingConfig = TrackingConfig(),
    *,
    first_window_index: int = 0,
    max_windows: int | None = None,
    frame_size: tuple[int, int] | None = None,
    batch_windows: int | None = 256,
) -> Iterator[WindowTracks]:
    """Like ``track_windows`` but yields finished windows in batches of ``batch_windows``
    (None: one batch at the end), so memory stays bounded whatever the chunk length.

    ``frame_size`` is the (W, H) of normalized frames. When given, and the method is ``dis``,
    ``frames`` may arrive already downscaled to the flow grid (``flow.flow_size``): the decoder
    then produces the small frames directly, which is much cheaper than resizing here. Positions
    and velocities are still expressed in normalized-frame pixels / units.
    """
    if first_window_index < 0:
        raise ValueError(f"first_window_index must be >= 0, got {first_window_index}")
    if max_windows is not None and max_windows < 0:
        raise ValueError(f"max_windows must be >= 0, got {max_windows}")
    if batch_windows is not None and batch_windows < 1:
        raise ValueError(f"batch_windows must be >= 1 or None, got {batch_windows}")
    tracker = _Tracker(window_cfg, cfg, first_window_index, frame_size)
    limit = max_windows if max_windows is not None else float("inf")
    started = emitted = total = gated = 0
    if limit > 0:
        for n, frame in enumerate(frames):
            cur = tracker.prepare(frame)
            tracker.advance(cur)
            if n % window_cfg.stride_frames == 0 and started < limit:
                tracker.open_window(started)
                started += 1
            tracker.prev = cur
            emitted += tracker.record(frame)
            if batch_windows is not None and len(tracker.rows) >= batch_windows:
                batch = tracker.take()
                total, gated = total + len(batch), gated + int(batch.gated.sum())
                yield batch
            if emitted >= limit:
                break
    last = tracker.take()
    total, gated = total + len(last), gated + int(last.gated.sum())
    if len(last) or total == 0:
        yield last
    log.debug(
        "tracked %d windows (%d gated); pairs: %d computed, %d gated",
        total, gated, tracker.pairs_computed, tracker.pairs_gated,
    )  # fmt: skip
