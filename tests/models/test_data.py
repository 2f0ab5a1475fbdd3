import logging

import numpy as np
import torch

from models.data import TrackWindowDataModule, split_single_video, split_videos
from pipeline.tokens.training_data import load_videos


def _windows_of(ds) -> set[tuple[float, ...]]:
    """Identify moving windows by their values (noise differs per window; idle ones are 0)."""
    return {
        tuple(ds.velocities[i].view(-1)[:8].tolist())
        for i in range(len(ds))
        if ds.velocities[i].abs().max() > 0
    }


def test_split_by_video_never_shares_a_video(tiny_cfg, make_track_files) -> None:
    cfg = tiny_cfg(val_fraction=0.3)
    files = make_track_files(cfg, videos=6, windows=20)
    dm = TrackWindowDataModule(load_videos(files, cfg), cfg)
    dm.setup("fit")
    s = dm.summary
    assert s is not None and s.mode == "by_video"
    assert s.val_videos and s.train_videos
    assert not set(s.train_videos) & set(s.val_videos)
    assert set(s.train_videos) | set(s.val_videos) == {v for v, _ in files}
    tr, va = _windows_of(dm.train_set), _windows_of(dm.val_set)
    assert tr and va and not tr & va
    # deterministic: the same files give the same split
    dm2 = TrackWindowDataModule(load_videos(list(reversed(files)), cfg), cfg)
    dm2.setup("fit")
    assert dm2.summary == s


def test_split_videos_always_keeps_both_sides() -> None:
    ids = [f"v{i}" for i in range(2)]
    for frac in (0.01, 0.99):
        train, val = split_videos(ids, frac)
        assert len(train) == 1 and len(val) == 1
    assert split_videos(ids, 0.0) == (ids, [])
    many = [f"video-{i}" for i in range(400)]
    _, val = split_videos(many, 0.25)
    assert 0.15 < len(val) / len(many) < 0.35


def test_single_video_uses_guarded_contiguous_blocks(tiny_cfg, make_track_files, caplog) -> None:
    cfg = tiny_cfg(val_fraction=0.2, gated_keep_fraction=1.0)
    files = make_track_files(cfg, videos=1, windows=200)
    dm = TrackWindowDataModule(load_videos(files, cfg), cfg)
    with caplog.at_level(logging.WARNING, logger="models.data"):
        dm.setup("fit")
    assert "only one video" in caplog.text
    s = dm.summary
    assert s.mode == "single_video_blocks" and s.n_val > 0 and s.n_train > 0
    tr = dm.train_set.window_index.numpy()
    va = dm.val_set.window_index.numpy()
    gaps = np.abs(tr[:, None] - va[None, :]).min(axis=1)
    assert gaps.min() >= cfg.window_frames  # no shared frames for any stride >= 1
    assert s.n_train + s.n_val + s.n_guard_dropped == 200
    # validation windows form at most 2 contiguous runs (2 of 10 blocks)
    assert (np.diff(np.sort(va)) > 1).sum() <= 1


def test_split_single_video_block_count() -> None:
    idx = np.arange(1000)
    train, val = split_single_video("x", idx, 0.3, guard=16)
    assert val.sum() == 300
    assert not (train & val).any()


def test_gated_windows_keep_a_fraction(tiny_cfg, make_track_files) -> None:
    cfg = tiny_cfg(val_fraction=0.0, gated_keep_fraction=0.5)
    files = make_track_files(cfg, videos=2, windows=300)
    n_gated = sum(int(np.load(p)["gated"].sum()) for _, p in files)
    dm = TrackWindowDataModule(load_videos(files, cfg), cfg)
    dm.setup("fit")
    s = dm.summary
    assert s.mode == "no_validation"
    assert 0.3 * n_gated < s.n_gated_dropped < 0.7 * n_gated
    assert s.n_train == 600 - s.n_gated_dropped
    none_kept = TrackWindowDataModule(
        load_videos(files, cfg), tiny_cfg(val_fraction=0.0, gated_keep_fraction=0.0)
    )
    none_kept.setup()
    assert none_kept.summary.n_gated_dropped == n_gated


def test_dataloader_batches(tiny_cfg, make_track_files) -> None:
    cfg = tiny_cfg(batch_size=4)
    dm = TrackWindowDataModule(load_videos(make_track_files(cfg, videos=3, windows=10), cfg), cfg)
    dm.setup("fit")
    batch = next(iter(dm.train_dataloader()))
    assert batch["velocities"].shape == (4, cfg.steps, cfg.num_points, 2)
    assert batch["velocities"].dtype == torch.float32
    assert batch["frame_size"].shape == (4, 2)
