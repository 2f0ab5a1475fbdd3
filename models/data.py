"""Track windows for tokenizer training: idle-window sampling, train/val split.

Input: one ``VideoWindows`` per video (arrays only: ``velocities (W, T-1, N, 2)`` float32 in
normalized units, ``gated (W,)``, ``window_index (W,)``, ``frame_size (W, 2)`` = (width,
height) of the normalized frames). The pipeline reads them from its track files
(``pipeline.tokens.training_data``); this package never touches files of the store.

Rules (all deterministic, no RNG involved):
- *Gated windows* (skipped by the tracker's motion gate, i.e. idle) are kept for training only
  when ``unit_hash(video_id|gated|window_index) < gated_keep_fraction``: a few idle examples
  teach the "no motion" code without letting idle time dominate the data.
- *Split by video*: a video is held out for validation when
  ``unit_hash(video_id) < val_fraction``; if that leaves no validation video (or no training
  video) the video with the smallest (largest) hash is moved. Windows of one video never land
  on both sides.
- *Single video* (nothing else to hold out): its windows, sorted by window index, are cut into
  ``SINGLE_VIDEO_BLOCKS`` contiguous blocks; the ``max(1, round(val_fraction * blocks))``
  blocks with the smallest ``unit_hash(video_id|block|k)`` are validation, and training windows
  closer than ``window_frames`` indices to a validation window are dropped (for any stride >= 1
  they would share frames with it). A warning says so.
- *Budget* (``steps_per_epoch`` set): an epoch is ``steps_per_epoch`` batches drawn by
  ``StratifiedWindowSampler`` instead of one pass over the training windows, so the number of
  optimisation steps does not grow with the data. Draws go round-robin over stations, then over
  the videos of a station, then through a permutation of a video's windows (without
  replacement until they run out); the station and video orders are permuted per epoch and
  the epoch's draws are shuffled. All of it comes from ``numpy.random.default_rng((seed,
  epoch))``: the same inputs and seed give the same batches.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from models.tokenizer import TokenizerConfig

log = logging.getLogger(__name__)

SINGLE_VIDEO_BLOCKS = 10


def unit_hash(key: str) -> float:
    """Deterministic value in [0, 1) from a string (sha256, first 52 bits)."""
    return int(hashlib.sha256(key.encode()).hexdigest()[:13], 16) / float(16**13)


@dataclass(frozen=True)
class VideoWindows:
    """The usable windows of one video (all its files), sorted by window index."""

    video_id: str
    velocities: np.ndarray  # (W, S, N, 2) float32
    frame_size: np.ndarray  # (W, 2) float32, (width, height)
    window_index: np.ndarray  # (W,) int64
    gated: np.ndarray  # (W,) bool
    station: str = ""  # for the stratified sampler; "" = one unnamed station


@dataclass(frozen=True)
class SplitSummary:
    mode: str  # "by_video", "single_video_blocks" or "no_validation"
    train_videos: tuple[str, ...]
    val_videos: tuple[str, ...]
    n_train: int
    n_val: int
    n_gated_dropped: int
    n_guard_dropped: int
    train_stations: tuple[str, ...] = ()
    windows_per_epoch: int = 0  # training windows drawn per epoch (the budget, or n_train)


def keep_mask(v: VideoWindows, gated_keep_fraction: float) -> np.ndarray:
    """(W,) bool: every ungated window, plus the hashed share of gated ones."""
    kept_gated = np.array(
        [unit_hash(f"{v.video_id}|gated|{int(i)}") < gated_keep_fraction for i in v.window_index],
        dtype=bool,
    )
    return ~v.gated | kept_gated


def split_videos(video_ids: Sequence[str], val_fraction: float) -> tuple[list[str], list[str]]:
    """Deterministic video-level split (see module doc). Needs >= 2 distinct ids."""
    ids = sorted(set(video_ids))
    if len(ids) < 2 or val_fraction <= 0:
        return ids, []
    h = {v: unit_hash(v) for v in ids}
    val = [v for v in ids if h[v] < val_fraction]
    if not val:
        val = [min(ids, key=h.__getitem__)]
    if len(val) == len(ids):
        val.remove(max(ids, key=h.__getitem__))
    return [v for v in ids if v not in val], val


def split_single_video(
    video_id: str, window_index: np.ndarray, val_fraction: float, guard: int
) -> tuple[np.ndarray, np.ndarray]:
    """(train_mask, val_mask) over sorted windows of one video, by contiguous blocks."""
    n = window_index.shape[0]
    blocks = np.minimum(np.arange(n) * SINGLE_VIDEO_BLOCKS // max(n, 1), SINGLE_VIDEO_BLOCKS - 1)
    n_val = max(1, round(val_fraction * SINGLE_VIDEO_BLOCKS))
    ranked = sorted(range(SINGLE_VIDEO_BLOCKS), key=lambda k: unit_hash(f"{video_id}|block|{k}"))
    val = np.isin(blocks, ranked[:n_val])
    val_idx = window_index[val]  # sorted
    big = np.iinfo(np.int64).max // 4
    padded = np.concatenate([[-big], val_idx, [big]])  # (V+2,)
    pos = np.searchsorted(val_idx, window_index)  # (W,) insertion points
    near = np.minimum(window_index - padded[pos], padded[pos + 1] - window_index)  # (W,)
    return ~val & (near >= guard), val


class TrackWindowDataset(Dataset):
    """Windows in memory; items are dicts of tensors (velocities, frame_size, window_index)."""

    def __init__(self, velocities: np.ndarray, frame_size: np.ndarray, window_index: np.ndarray):
        self.velocities = torch.from_numpy(np.ascontiguousarray(velocities, dtype=np.float32))
        self.frame_size = torch.from_numpy(np.ascontiguousarray(frame_size, dtype=np.float32))
        self.window_index = torch.from_numpy(np.ascontiguousarray(window_index, dtype=np.int64))

    def __len__(self) -> int:
        return self.velocities.shape[0]

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {
            "velocities": self.velocities[i],  # (S, N, 2)
            "frame_size": self.frame_size[i],  # (2,)
            "window_index": self.window_index[i],  # ()
        }


def _subset(videos: Sequence[VideoWindows], masks: Sequence[np.ndarray]) -> TrackWindowDataset:
    pairs = list(zip(videos, masks, strict=True))
    if not pairs:
        raise ValueError("no videos to build a dataset from")
    return TrackWindowDataset(
        np.concatenate([v.velocities[m] for v, m in pairs]),
        np.concatenate([v.frame_size[m] for v, m in pairs]),
        np.concatenate([v.window_index[m] for v, m in pairs]),
    )


class StratifiedWindowSampler(Sampler[int]):
    """``num_samples`` dataset indexes per epoch, stratified by station then video (module
    doc). ``groups`` is the (station, video_id) of every window of the dataset."""

    def __init__(self, groups: Sequence[tuple[str, str]], num_samples: int, seed: int) -> None:
        if not groups:
            raise ValueError("no windows to sample from")
        self.num_samples = num_samples
        self.seed = seed
        self.epoch = 0
        by: dict[str, dict[str, list[int]]] = {}
        for i, (station, video) in enumerate(groups):
            by.setdefault(station, {}).setdefault(video, []).append(i)
        self.groups = {
            st: {v: np.asarray(ix, np.int64) for v, ix in sorted(vids.items())}
            for st, vids in sorted(by.items())
        }

    def __len__(self) -> int:
        return self.num_samples

    def indices(self, epoch: int) -> np.ndarray:
        """(num_samples,) the draws of ``epoch`` (deterministic)."""
        rng = np.random.default_rng((self.seed, epoch))
        stations = list(self.groups)
        videos = {st: list(self.groups[st]) for st in stations}
        pools: dict[tuple[str, str], list[int]] = {}
        st_order = [stations[i] for i in rng.permutation(len(stations))]
        v_order = {st: [videos[st][i] for i in rng.permutation(len(videos[st]))] for st in stations}
        v_next = dict.fromkeys(stations, 0)
        out = np.empty(self.num_samples, np.int64)
        for k in range(self.num_samples):
            st = st_order[k % len(st_order)]
            vid = v_order[st][v_next[st] % len(v_order[st])]
            v_next[st] += 1
            pool = pools.get((st, vid))
            if not pool:  # a fresh permutation of the video's windows
                ix = self.groups[st][vid]
                pool = pools[(st, vid)] = list(ix[rng.permutation(len(ix))][::-1])
            out[k] = pool.pop()
        return out[rng.permutation(self.num_samples)]

    def __iter__(self) -> Iterator[int]:
        epoch, self.epoch = self.epoch, self.epoch + 1
        return iter(self.indices(epoch).tolist())


class TrackWindowDataModule(L.LightningDataModule):
    """Windows of the given videos (one ``VideoWindows`` each), split as the module doc
    describes. Reading track files is the pipeline's job (``pipeline.tokens.training_data``)."""

    def __init__(self, videos: Sequence[VideoWindows], cfg: TokenizerConfig) -> None:
        super().__init__()
        if not videos:
            raise ValueError("no videos: nothing to train on")
        self.videos = sorted(videos, key=lambda v: v.video_id)
        self.cfg = cfg
        self.train_set: TrackWindowDataset | None = None
        self.val_set: TrackWindowDataset | None = None
        self.summary: SplitSummary | None = None
        self.train_groups: list[tuple[str, str]] = []  # (station, video_id) per training window

    def _windows_per_epoch(self) -> int:
        n_train = len(self.train_groups)
        spe = self.cfg.steps_per_epoch
        return n_train if spe is None or n_train == 0 else spe * self.cfg.batch_size

    def setup(self, stage: str | None = None) -> None:
        if self.summary is not None:
            return
        videos = self.videos
        keep = [keep_mask(v, self.cfg.gated_keep_fraction) for v in videos]
        n_gated_dropped = int(sum((~k).sum() for k in keep))
        if len(videos) == 1 and self.cfg.val_fraction > 0:
            self._setup_single(videos[0], keep[0], n_gated_dropped)
        else:
            self._setup_by_video(videos, keep, n_gated_dropped)
        log.info("tokenizer data split: %s", self.summary)

    def _setup_by_video(
        self, videos: list[VideoWindows], keep: list[np.ndarray], n_gated_dropped: int
    ) -> None:
        train_ids, val_ids = split_videos([v.video_id for v in videos], self.cfg.val_fraction)
        tr = [(v, k) for v, k in zip(videos, keep, strict=True) if v.video_id in train_ids]
        va = [(v, k) for v, k in zip(videos, keep, strict=True) if v.video_id in val_ids]
        self.train_set = _subset([v for v, _ in tr], [k for _, k in tr])
        self.train_groups = [(v.station, v.video_id) for v, k in tr for _ in range(int(k.sum()))]
        self.val_set = _subset([v for v, _ in va], [k for _, k in va]) if va else None
        self.summary = SplitSummary(
            mode="by_video" if va else "no_validation",
            train_videos=tuple(train_ids),
            val_videos=tuple(val_ids),
            n_train=len(self.train_set),
            n_val=len(self.val_set) if self.val_set is not None else 0,
            n_gated_dropped=n_gated_dropped,
            n_guard_dropped=0,
            train_stations=tuple(sorted({v.station for v, _ in tr})),
            windows_per_epoch=self._windows_per_epoch(),
        )

    def _setup_single(self, v: VideoWindows, keep: np.ndarray, n_gated_dropped: int) -> None:
        guard = self.cfg.window_frames
        train, val = split_single_video(v.video_id, v.window_index, self.cfg.val_fraction, guard)
        n_guard = int((~train & ~val).sum())
        log.warning(
            "only one video (%s): validation uses %d of %d contiguous window blocks of the same "
            "video; %d training windows within %d indexes of them dropped",
            v.video_id,
            max(1, round(self.cfg.val_fraction * SINGLE_VIDEO_BLOCKS)),
            SINGLE_VIDEO_BLOCKS,
            n_guard,
            guard,
        )
        self.train_set = _subset([v], [train & keep])
        self.train_groups = [(v.station, v.video_id)] * len(self.train_set)
        self.val_set = _subset([v], [val & keep])
        self.summary = SplitSummary(
            mode="single_video_blocks",
            train_videos=(v.video_id,),
            val_videos=(v.video_id,),
            n_train=len(self.train_set),
            n_val=len(self.val_set),
            n_gated_dropped=n_gated_dropped,
            n_guard_dropped=n_guard,
            train_stations=(v.station,),
            windows_per_epoch=self._windows_per_epoch(),
        )

    def train_dataloader(self) -> DataLoader:
        if self.train_set is None or len(self.train_set) == 0:
            raise ValueError(f"no training windows after the split: {self.summary}")
        if self.cfg.steps_per_epoch is not None:
            sampler = StratifiedWindowSampler(
                self.train_groups, self._windows_per_epoch(), self.cfg.seed
            )
            return DataLoader(self.train_set, batch_size=self.cfg.batch_size, sampler=sampler)
        gen = torch.Generator().manual_seed(self.cfg.seed)
        return DataLoader(
            self.train_set, batch_size=self.cfg.batch_size, shuffle=True, generator=gen
        )

    def val_dataloader(self) -> DataLoader:
        empty = TrackWindowDataset(
            np.zeros((0, self.cfg.steps, self.cfg.num_points, 2), np.float32),
            np.zeros((0, 2), np.float32),
            np.zeros(0, np.int64),
        )
        return DataLoader(self.val_set or empty, batch_size=self.cfg.batch_size, shuffle=False)
