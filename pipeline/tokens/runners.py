"""The tokenizer's checkpoints in use: which one is current, runners that encode windows with it
(loaded once per process and device), checks of checkpoint files before any heavy work, and
speed measurements for ``laps bench``. The stages (``pipeline.tokens.stage``) call these."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.checkpoint import CheckpointError, load_checkpoint
from models.device import device_name, resolve_device
from models.infer import TokenizerRunner
from models.tokenizer import TokenizerConfig
from models.train import train_tokenizer
from pipeline.errors import ConfigError, NoTokenizerError, StorageKeyError, TokenizerError
from pipeline.io.keys import TOKENIZER_CURRENT
from pipeline.io.scratch import scratch_dir
from pipeline.io.storage import Storage

log = logging.getLogger(__name__)

CURRENT_KEY = TOKENIZER_CURRENT


def run_device(choice: str | torch.device = "auto") -> torch.device:
    """The tokenizer section's ``device`` (``auto`` | ``cpu`` | ``cuda``) resolved for this run;
    ``cuda`` without a CUDA device is a ``ConfigError`` (``auto`` falls back to CPU, logged)."""
    if isinstance(choice, torch.device):
        return choice
    try:
        return resolve_device(choice)
    except ValueError as exc:
        raise ConfigError(f"tokenizer.device: {exc}") from exc


def current_tokenizer(store: Storage) -> dict[str, Any] | None:
    """The pointer to the checkpoint in use, or None."""
    try:
        return json.loads(store.read_bytes(CURRENT_KEY))
    except StorageKeyError:
        return None


def load_runner(
    store: Storage,
    *,
    expected: TokenizerConfig | None = None,
    batch_size: int = 256,
    device: str | torch.device = "auto",
) -> TokenizerRunner:
    """A runner for the current checkpoint (downloaded once to a temp file for S3 stores)."""
    current = current_tokenizer(store)
    if current is None:
        raise NoTokenizerError(
            "no tokenizer trained yet: materialize `motion_tokenizer` or run `laps train-tokenizer`"
        )
    with store.local_path(current["checkpoint_key"]) as path:
        try:
            return TokenizerRunner(
                path, batch_size=batch_size, expected_cfg=expected, device=run_device(device)
            )
        except CheckpointError as exc:
            raise TokenizerError(f"tokenizer {current['version']}: {exc}") from exc


def checkpoint_runner(
    path: str | Path, *, batch_size: int = 256, device: str | torch.device = "cpu"
) -> TokenizerRunner:
    """A runner for a checkpoint file (``TokenizerError`` for one that cannot be loaded)."""
    dev = run_device(device)
    try:
        return TokenizerRunner(Path(path), batch_size=batch_size, device=dev)
    except CheckpointError as exc:
        raise TokenizerError(f"checkpoint {path}: {exc}") from exc


def validate_checkpoint(path: str | Path) -> str:
    """Load a checkpoint strictly (cheap: a small model) and return its version;
    ``TokenizerError`` for one that cannot be used, before any heavy work starts."""
    try:
        _, _, meta = load_checkpoint(Path(path))
    except (CheckpointError, OSError) as exc:
        raise TokenizerError(f"unusable checkpoint: {exc}") from exc
    return str(meta["tokenizer_version"])


def write_untrained_checkpoint(path: str | Path, *, seed: int = 0) -> Path:
    """A default-config tokenizer with seeded random weights (for speed measurements, which do
    not depend on the weights)."""
    import torch

    from models.checkpoint import save_checkpoint
    from models.tokenizer import MotionTokenizer

    torch.manual_seed(seed)
    cfg = TokenizerConfig()
    save_checkpoint(Path(path), MotionTokenizer(cfg), cfg, {"note": "untrained, for laps bench"})
    return Path(path)


def measure_training(
    *, steps: int = 8, windows: int = 512, device: str | torch.device = "cpu"
) -> dict[str, float | str]:
    """Training speed of the default-config tokenizer: ``steps`` optimisation steps on random
    velocity windows of one video (the figure does not depend on the values). Returns the
    steps, windows trained on, seconds and ``train_windows_per_s``."""
    from models.data import VideoWindows

    dev = run_device(device)
    cfg = TokenizerConfig(max_epochs=1, steps_per_epoch=steps, early_stop_patience=None)
    rng = np.random.default_rng(0)
    shape = (windows, cfg.steps, cfg.num_points, 2)
    video = VideoWindows(
        video_id="bench",
        velocities=(rng.standard_normal(shape) * 0.01).astype(np.float32),
        frame_size=np.full((windows, 2), (426.0, 320.0), np.float32),
        window_index=np.arange(windows, dtype=np.int64),
        gated=np.zeros(windows, bool),
    )
    with scratch_dir("laps-bench-train") as tmp:
        result = train_tokenizer([video], cfg, Path(tmp) / "out", device=dev)
    return {
        "steps": result.steps,
        "windows": result.windows,
        "wall_s": result.train_seconds,
        "train_windows_per_s": result.windows_per_s,
        "device": device_name(dev),
    }


_RUNNERS: dict[tuple[str, str, str, int, str], TokenizerRunner] = {}


def cached_runner(
    store: Storage,
    *,
    expected: TokenizerConfig | None = None,
    batch_size: int = 256,
    device: str | torch.device = "auto",
) -> TokenizerRunner:
    """The current checkpoint's runner, loaded once per process, version, expected config and
    device (the model is loaded once however many partitions a process encodes)."""
    dev = run_device(device)
    current = current_tokenizer(store)
    key = (
        store.root,
        current["version"] if current else "",
        expected.fingerprint() if expected is not None else "",
        batch_size,
        device_name(dev),
    )
    if key not in _RUNNERS:
        _RUNNERS.clear()  # one model in memory at a time
        _RUNNERS[key] = load_runner(store, expected=expected, batch_size=batch_size, device=dev)
    return _RUNNERS[key]


def check_windows(runner: TokenizerRunner, expected: TokenizerConfig) -> None:
    """The checkpoint must read the windows the tracker writes (same T and grid)."""
    tok = runner.config
    if (tok.window_frames, tok.grid_size) != (expected.window_frames, expected.grid_size):
        raise TokenizerError(
            f"tokenizer {runner.tokenizer_version} reads windows T={tok.window_frames}, "
            f"grid={tok.grid_size}; the tracking windows are T={expected.window_frames}, "
            f"grid={expected.grid_size}"
        )
