"""Lightning wrapper of ``MotionTokenizer``: AdamW, per-epoch train/val loss history.

Training decodes a fresh random subset of ``decoder_points_per_window`` points per batch
(global RNG, seeded by the trainer); validation always decodes one fixed subset drawn from
``cfg.seed`` so the validation curve is comparable across epochs.

``on_epoch`` (optional) is called after every epoch with its history row: ``epoch``,
``steps`` (optimisation steps so far), ``train_loss`` and ``val_loss`` (nan: no validation).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import lightning as L
import torch

from models.tokenizer import MotionTokenizer, TokenizerConfig


class TokenizerModule(L.LightningModule):
    def __init__(
        self, cfg: TokenizerConfig, on_epoch: Callable[[dict[str, float]], None] | None = None
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.on_epoch = on_epoch
        self.model = MotionTokenizer(cfg)
        self.history: list[dict[str, float]] = []
        self.windows_seen = 0  # training windows of all optimisation steps
        self._sums: dict[str, list[float]] = {"train": [0.0, 0.0], "val": [0.0, 0.0]}
        self._val_points = self._fixed_points(cfg)

    @staticmethod
    def _fixed_points(cfg: TokenizerConfig) -> torch.Tensor | None:
        p = cfg.decoded_points
        if p is None:
            return None
        gen = torch.Generator().manual_seed(cfg.seed)
        return torch.randperm(cfg.num_points, generator=gen)[:p].sort().values  # (P,)

    def _train_points(self) -> torch.Tensor | None:
        p = self.cfg.decoded_points
        if p is None:
            return None
        return torch.randperm(self.cfg.num_points, device=self.device)[:p]  # (P,)

    def _step(self, batch: dict[str, torch.Tensor], split: str, points: torch.Tensor | None):
        loss = self.model.loss(batch, points)
        n = batch["velocities"].shape[0]
        self._sums[split][0] += float(loss.detach()) * n
        self._sums[split][1] += n
        self.log(f"{split}_loss", loss, on_step=False, on_epoch=True, prog_bar=True, batch_size=n)
        return loss

    def training_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        self.windows_seen += int(batch["velocities"].shape[0])
        return self._step(batch, "train", self._train_points())

    def validation_step(self, batch: dict[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        pts = None if self._val_points is None else self._val_points.to(self.device)
        return self._step(batch, "val", pts)

    def _mean(self, split: str) -> float:
        total, n = self._sums[split]
        self._sums[split] = [0.0, 0.0]
        return total / n if n else math.nan

    def on_train_epoch_end(self) -> None:
        # Lightning 2.x runs the epoch-end validation before this hook.
        row = {
            "epoch": float(self.current_epoch),
            "steps": float(self.global_step),
            "train_loss": self._mean("train"),
            "val_loss": self._mean("val"),
        }
        self.history.append(row)
        if self.on_epoch is not None:
            self.on_epoch(row)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # constant LR: a warm-up + cosine schedule measured worse within a few-minute budget
        return torch.optim.AdamW(
            self.parameters(), lr=self.cfg.lr, weight_decay=self.cfg.weight_decay
        )
