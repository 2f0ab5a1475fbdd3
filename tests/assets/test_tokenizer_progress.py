"""The motion_tokenizer asset shows its training: the loss plot inline as an image, the
per-epoch losses in the run's log, the step budget and the retrain decision."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import dagster as dg

from assets import tokenizer
from assets.resources import LapsConfig, LapsStorage
from pipeline.io.storage import open_storage
from pipeline.tokens.stage import CURRENT_KEY
from tests.pipeline.tokens.test_budget import CFG, add_partition

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_asset_metadata_embeds_the_loss_plot_and_logs_every_epoch(tmp_path: Path):
    store = open_storage(tmp_path)
    add_partition(store, "2026-04-01", "st1")
    section = {k: v for k, v in CFG.model_dump().items() if k not in ("window_frames", "grid_size")}
    windows = {"window_frames": CFG.window_frames, "stride_frames": 1, "grid_size": CFG.grid_size}
    resources = {
        "storage": LapsStorage(data_root=str(tmp_path)),
        "laps_config": LapsConfig(windows=windows, tokenizer={**section, "device": "cpu"}),
    }
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize([tokenizer.motion_tokenizer], instance=instance, resources=resources)
    assert result.success
    meta = result.asset_materializations_for_node("motion_tokenizer")[0].metadata
    pointer = json.loads(store.read_bytes(CURRENT_KEY))

    md = meta["loss_plot_image"].value
    prefix = "![tokenizer loss](data:image/png;base64,"
    assert md.startswith(prefix) and md.endswith(")")
    png = base64.b64decode(md[len(prefix) : -1])
    assert png.startswith(PNG_MAGIC) and png == store.read_bytes(pointer["loss_plot_key"])

    assert meta["train_steps"].value == 4
    assert meta["retrain_decision"].value == "trained: no tokenizer trained yet"
    logged = [e.message for e in instance.all_logs(result.run_id) if e.message.startswith("epoch ")]
    assert logged == [
        f"epoch {i}: step {2 * (i + 1)}, train loss {h['train_loss']:.4f}, "
        f"val loss {h['val_loss']:.4f}"
        for i, h in enumerate(pointer["history"])
    ]
    assert len(logged) == CFG.max_epochs
