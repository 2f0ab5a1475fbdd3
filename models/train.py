"""Train the motion tokenizer on track files (deterministic) and write its artifacts.

``device`` (``models.device``: ``auto`` | ``cpu`` | ``cuda``) picks the Lightning accelerator:
CPU trains in 32-bit as before; CUDA trains with mixed precision (``bf16-mixed`` where the GPU
supports it, else ``16-mixed``). The checkpoint is always saved from CPU weights.

``out_dir`` receives ``tokenizer.pt`` (see ``models.checkpoint``), ``loss.csv``, ``loss.png``
and Lightning's own logs under ``lightning_logs/``. Nothing is written elsewhere.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import time
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.loggers import CSVLogger

from models.checkpoint import save_checkpoint
from models.data import TrackWindowDataModule, VideoWindows
from models.device import device_name, resolve_device, training_precision
from models.lightning_module import TokenizerModule
from models.tokenizer import TokenizerConfig, count_parameters

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "tokenizer.pt"
LOSS_CSV_NAME = "loss.csv"


@dataclass(frozen=True)
class TrainResult:
    checkpoint_path: Path
    tokenizer_version: str
    history: list[dict[str, float]]  # one row per epoch: epoch, train_loss, val_loss (nan: none)
    loss_csv_path: Path
    num_parameters: int
    train_seconds: float


@contextlib.contextmanager
def _restore_determinism_flag() -> Iterator[None]:
    """Lightning's ``deterministic=True`` flips a process-wide torch flag; put it back after."""
    before = torch.are_deterministic_algorithms_enabled()
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before)


def _make_trainer(
    cfg: TokenizerConfig,
    out_dir: Path,
    progress: bool,
    max_time_s: float | None,
    has_val: bool,
    device: torch.device | None = None,
) -> L.Trainer:
    if not progress:  # "GPU available", tips and such: noise in pipeline logs
        logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    device = device or torch.device("cpu")
    return L.Trainer(
        accelerator="cuda" if device.type == "cuda" else "cpu",
        devices=[device.index or 0] if device.type == "cuda" else 1,
        precision=training_precision(device),  # type: ignore[arg-type]
        max_epochs=cfg.max_epochs,
        max_time=None if max_time_s is None else {"seconds": max_time_s},
        # CUDA: deterministic kernels where torch has them, a warning (not an error) where it
        # has none, so a GPU run never fails on that; the CPU run stays strictly deterministic
        deterministic="warn" if device.type == "cuda" else True,
        default_root_dir=out_dir,
        logger=CSVLogger(save_dir=out_dir, name="lightning_logs"),
        enable_checkpointing=False,
        enable_progress_bar=progress,
        enable_model_summary=progress,
        num_sanity_val_steps=0,
        limit_val_batches=1.0 if has_val else 0,
        log_every_n_steps=1,
    )


def write_loss_csv(history: list[dict[str, float]], path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["epoch", "train_loss", "val_loss"])
        w.writeheader()
        for row in history:
            w.writerow({**row, "epoch": int(row["epoch"])})
    tmp.replace(path)
    return path


def train_tokenizer(
    videos: Sequence[VideoWindows],
    cfg: TokenizerConfig,
    out_dir: Path,
    *,
    progress: bool = False,
    max_time_s: float | None = None,
    device: str | torch.device = "cpu",
) -> TrainResult:
    """Train on the windows of ``videos``; same inputs, seed and device give the same version
    (unless ``max_time_s`` cuts training short). ``device``: ``auto`` | ``cpu`` | ``cuda`` or a
    resolved ``torch.device`` (``cuda`` without CUDA: ``ValueError``)."""
    dev = device if isinstance(device, torch.device) else resolve_device(device)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    dm = TrackWindowDataModule(videos, cfg)
    dm.setup("fit")
    summary = dm.summary
    if summary is None:
        raise RuntimeError("TrackWindowDataModule.setup did not produce a split summary")
    if summary.n_train == 0:
        raise ValueError(f"no training windows in {len(videos)} videos: {summary}")
    module = TokenizerModule(cfg)
    trainer = _make_trainer(
        cfg, out_dir, progress, max_time_s, has_val=summary.n_val > 0, device=dev
    )
    t0 = time.perf_counter()
    with _restore_determinism_flag(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        # Lightning's own deprecation of its pytree helper under torch 2.13: not ours to fix.
        warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
        trainer.fit(module, datamodule=dm)
    seconds = time.perf_counter() - t0
    history = list(module.history)
    model = module.model.cpu().eval()
    meta = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "split": asdict(summary),
        "training_videos": list(summary.train_videos),
        "validation_videos": list(summary.val_videos),
        "history": history,
        "train_seconds": round(seconds, 3),
        "num_parameters": count_parameters(model),
        "device": device_name(dev),
        "precision": training_precision(dev),
    }
    ckpt = out_dir / CHECKPOINT_NAME
    version = save_checkpoint(ckpt, model, cfg, meta)
    log.info(
        "tokenizer %s: %d epochs in %.1f s, last %s", version, len(history), seconds, history[-1:]
    )
    return TrainResult(
        checkpoint_path=ckpt,
        tokenizer_version=version,
        history=history,
        loss_csv_path=write_loss_csv(history, out_dir / LOSS_CSV_NAME),
        num_parameters=meta["num_parameters"],
        train_seconds=seconds,
    )
