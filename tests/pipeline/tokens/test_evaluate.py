"""`laps eval-tokenizer` on a real tiny store (block video, tracked, untrained tiny tokenizer)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from models.data import VideoWindows, keep_mask, split_videos
from models.tokenizer import TokenizerConfig
from pipeline.cli.main import main
from pipeline.segments.segfile import Segment, SegmentFile, write_segments
from pipeline.tokens.evaluate import heldout_masks
from tests.lapstest.segment_stores import BLOCK_MOVE


def _gt(folder: Path) -> Path:
    a, b = BLOCK_MOVE
    segs = (Segment(0.0, a, "idle"), Segment(a, b, "slide"), Segment(b, 12.0, "idle"))
    write_segments(folder / "block.segments.json", SegmentFile("block.mp4", 30.0, 12.0, segs, {}))
    return folder


def test_eval_tokenizer_reports_sane_numbers(block_store, tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    gt = _gt(tmp_path)
    res = CliRunner().invoke(
        main,
        ["eval-tokenizer", "--store", str(block_store.root), "--gt", str(gt), "--json", str(out)],
    )
    assert res.exit_code == 0, res.output
    assert "| shuffled |" in res.output and "NMI latent" in res.output
    rep = json.loads(out.read_text())
    # an installed, untrained checkpoint has no recorded split: the single video's blocks
    assert rep["split_source"] == "recomputed"
    assert rep["heldout_windows"] > 0 and rep["videos"] == 1
    assert rep["heldout_windows"] * 15 < rep["codebook_all"]["n_tokens"]  # a held-out part only
    d = rep["decoder"]
    for k in ("true", "shuffled", "constant"):
        assert d[k]["n_moving"] > 0 and d[k]["n_points"] == d["true"]["n_points"]
        assert 0 <= d[k]["accuracy"] <= 1 and d[k]["loss"] > 0 and d[k]["epe_px"] >= 0
    # random weights: the codes hardly matter to the decoder
    assert abs(d["shuffle_gain"]) < 0.1
    assert d["zero_motion_epe_px"] > 0
    cb = rep["codebook_all"]
    assert 1 <= cb["distinct"] <= cb["codebook_size"] == 12
    assert 1.0 <= cb["perplexity"] <= cb["distinct"] + 1e-9
    g = rep["ground_truth"]["all"]
    assert g["videos"] == 1 and 0 < g["active_share"] < 1
    assert g["auc_track_speed"] > 0.9  # the sliding block is the only motion
    assert 0 <= g["auc_lae"] <= 1
    assert g["segments"] == 1 and g["nmi_latent"] is None  # one label: no clustering to score


def test_eval_tokenizer_without_tokenizer_is_one_line(tmp_path: Path) -> None:
    res = CliRunner().invoke(main, ["eval-tokenizer", "--store", str(tmp_path)])
    assert res.exit_code == 2
    assert res.output.strip().startswith("error:") and "tokenizer" in res.output
    assert "Traceback" not in res.output


def _video(vid: str, n: int = 20) -> VideoWindows:
    gated = np.zeros(n, bool)
    gated[::4] = True
    return VideoWindows(
        vid, np.zeros((n, 15, 400, 2), np.float32), np.ones((n, 2), np.float32),
        np.arange(n, dtype=np.int64), gated,
    )  # fmt: skip


def test_heldout_split_follows_the_checkpoint_else_models_data() -> None:
    cfg = TokenizerConfig()
    videos = [_video(v) for v in ("a", "b", "c", "d")]
    meta = {"split": {"mode": "by_video"}, "validation_videos": ["c"]}
    masks, source = heldout_masks(videos, cfg, meta)
    assert source == "checkpoint" and list(masks) == ["c"]
    assert np.array_equal(masks["c"], keep_mask(videos[2], cfg.gated_keep_fraction))
    masks, source = heldout_masks(videos, cfg, {"note": "installed"})
    assert source == "recomputed"
    assert sorted(masks) == split_videos(["a", "b", "c", "d"], cfg.val_fraction)[1]
    masks, _ = heldout_masks(videos[:1], cfg, {})  # one video: its validation blocks only
    assert 0 < masks["a"].sum() < 20
