"""The tokenizer's loss curve as a PNG (matplotlib Agg, imported on first use)."""

from __future__ import annotations

import math
from pathlib import Path

LOSS_PNG_NAME = "loss.png"


def plot_loss(history: list[dict[str, float]], path: Path) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    epochs = [int(r["epoch"]) for r in history]
    for key in ("train_loss", "val_loss"):
        vals = [r[key] for r in history]
        if any(not math.isnan(v) for v in vals):
            ax.plot(epochs, vals, marker="o", label=key)
    ax.set_xlabel("epoch")
    ax.set_ylabel("cross-entropy (displacement classes)")
    ax.set_title("motion tokenizer loss")
    ax.legend()
    tmp = path.with_name(f".{path.name}.tmp.png")
    fig.savefig(tmp)
    tmp.replace(path)
    return path
