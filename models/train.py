"""Train the motion tokenizer on track files (deterministic) and write its artifacts.

``device`` (``models.device``: ``auto`` | ``cpu`` | ``cuda``) picks the Lightning accelerator:
CPU trains in 32-bit as before; CUDA trains with mixed precision (``bf16-mixed`` where the GPU
supports it, else ``16-mixed``). The checkpoint is always saved from CPU weights.

Budget: with ``steps_per_epoch`` set an epoch is that many batches sampled across stations
and videos (``models.data``), so training runs at most ``max_epochs * steps_per_epoch``
optimisation steps however much data there is; with a validation split it stops early after
``early_stop_patience`` epochs without a validation-loss decrease of ``early_stop_min_delta``
(Lightning's ``EarlyStopping``). Each epoch is logged (``models.train`` logger, INFO) and handed
to ``on_epoch``.

``out_dir`` receives ``tokenizer.pt`` (see ``models.checkpoint``), ``loss.csv``, ``loss.png``
and Lightning's own logs under ``lightning_logs/``. Nothing is written elsewhere.
"""

from __future__ import annotations

import contextlib
import csv
import logging
import math
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping
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
    steps: int = 0  # optimisation steps run
    windows: int = 0  # training windows seen (steps x batch, the last batch may be short)
    stopped_early: bool = False

    @property
    def windows_per_s(self) -> float:
        return self.windows / self.train_seconds if self.train_seconds > 0 else math.nan


@contextlib.contextmanager
def _restore_determinism_flag(before: bool) -> Iterator[None]:
    """Lightning's ``deterministic=True`` flips a process-wide torch flag (when the Trainer is
    built, so ``before`` is read before that); put it back after."""
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
    callbacks: list | None = None,
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
        callbacks=callbacks or [],
    )


def write_loss_csv(history: list[dict[str, float]], path: Path) -> Path:
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["epoch", "steps", "train_loss", "val_loss"])
        w.writeheader()
        for row in history:
            w.writerow({**row, "epoch": int(row["epoch"]), "steps": int(row.get("steps", 0))})
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
    on_epoch: Callable[[dict[str, float]], None] | None = None,
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
    has_val = summary.n_val > 0
    total = cfg.max_epochs * -(-summary.windows_per_epoch // cfg.batch_size)

    def epoch_done(row: dict[str, float]) -> None:
        log.info(
            "tokenizer epoch %d/%d: step %d/%d, train loss %.4f, val loss %.4f",
            int(row["epoch"]) + 1, cfg.max_epochs, int(row["steps"]), total,
            row["train_loss"], row["val_loss"],
        )  # fmt: skip
        if on_epoch is not None:
            on_epoch({**row, "max_epochs": float(cfg.max_epochs), "max_steps": float(total)})

    module = TokenizerModule(cfg, on_epoch=epoch_done)
    stopper = None
    if has_val and cfg.early_stop_patience is not None:
        stopper = EarlyStopping(
            "val_loss",
            min_delta=cfg.early_stop_min_delta,
            patience=cfg.early_stop_patience,
            mode="min",
            strict=False,
        )
    deterministic_before = torch.are_deterministic_algorithms_enabled()
    trainer = _make_trainer(
        cfg, out_dir, progress, max_time_s, has_val=has_val, device=dev,
        callbacks=[stopper] if stopper is not None else None,
    )  # fmt: skip
    t0 = time.perf_counter()
    with _restore_determinism_flag(deterministic_before), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        # Lightning's own deprecation of its pytree helper under torch 2.13: not ours to fix.
        warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
        trainer.fit(module, datamodule=dm)
    seconds = time.perf_counter() - t0
    steps = int(trainer.global_step)
    stopped_early = stopper is not None and stopper.stopped_epoch > 0
    windows = module.windows_seen
    history = list(module.history)
    model = module.model.cpu().eval()
    meta = {
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "split": asdict(summary),
        "training_videos": list(summary.train_videos),
        "validation_videos": list(summary.val_videos),
        "history": history,
        "train_seconds": round(seconds, 3),
        "steps": steps,
        "windows": windows,
        "stopped_early": stopped_early,
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
        steps=steps,
        windows=windows,
        stopped_early=stopped_early,
    )
