"""Tokenizer training data from the store's track files: read, validate, group by video.

Input: per video one or more ``.npz`` files (``pipeline.tracks.store`` layout) with at least
``velocities (W, T-1, N, 2)`` float16/float32 in normalized units, ``gated (W,)`` bool,
``window_index (W,)`` int and ``frame_size (2,)`` = (width, height) of the normalized frames.
Out: one ``models.data.VideoWindows`` per video, windows sorted by index, velocities float32
(non-finite values zeroed by ``models.tokenizer.sanitize_velocities``, the same rule inference
applies).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from models.data import VideoWindows
from models.tokenizer import TokenizerConfig, sanitize_velocities
from pipeline.errors import TrackFileError

REQUIRED_KEYS = ("velocities", "gated", "window_index", "frame_size")


def load_track_file(path: str | Path, cfg: TokenizerConfig) -> dict[str, np.ndarray]:
    """Read and validate one npz; velocities come back float32."""
    with np.load(Path(path), allow_pickle=False) as z:
        missing = [k for k in REQUIRED_KEYS if k not in z.files]
        if missing:
            raise TrackFileError(path, f"missing keys {missing}")
        arrays = {k: z[k] for k in REQUIRED_KEYS}
    vel = arrays["velocities"]
    want = (cfg.steps, cfg.num_points, 2)
    if vel.ndim != 4 or vel.shape[1:] != want:
        raise TrackFileError(path, f"velocities shape {vel.shape}, expected (W, {want})")
    w = vel.shape[0]
    for key in ("gated", "window_index"):
        if arrays[key].shape != (w,):
            raise TrackFileError(path, f"{key} shape {arrays[key].shape}, expected ({w},)")
    fs = np.asarray(arrays["frame_size"], dtype=np.float32)
    if fs.shape not in ((2,), (w, 2)) or not (fs > 0).all():
        raise TrackFileError(path, f"frame_size {fs.tolist()} must be positive (2,) or (W, 2)")
    return {
        "velocities": sanitize_velocities(vel, str(path)),
        "gated": arrays["gated"].astype(bool),
        "window_index": arrays["window_index"].astype(np.int64),
        "frame_size": np.broadcast_to(fs, (w, 2)).copy(),
    }


def load_video(video_id: str, paths: Sequence[Path], cfg: TokenizerConfig) -> VideoWindows:
    """Concatenate the files of one video; duplicate window indexes are an error."""
    parts = [load_track_file(p, cfg) for p in paths]
    cat = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    order = np.argsort(cat["window_index"], kind="stable")
    idx = cat["window_index"][order]
    dup = idx[1:][idx[1:] == idx[:-1]]
    if dup.size:
        raise TrackFileError(paths[0], f"video {video_id}: duplicate window_index {dup[:5]}")
    return VideoWindows(
        video_id=video_id,
        velocities=cat["velocities"][order],
        frame_size=cat["frame_size"][order],
        window_index=idx,
        gated=cat["gated"][order],
    )


def load_videos(
    track_files: Sequence[tuple[str, str | Path]], cfg: TokenizerConfig
) -> list[VideoWindows]:
    """``(video_id, npz_path)`` pairs -> one ``VideoWindows`` per video, sorted by video id."""
    if not track_files:
        raise TrackFileError("<none>", "no track files: nothing to train on")
    by_video: dict[str, list[Path]] = {}
    for vid, path in track_files:
        by_video.setdefault(str(vid), []).append(Path(path))
    return [load_video(v, ps, cfg) for v, ps in sorted(by_video.items())]
