"""``laps eval --plots`` draws what the prediction's segmenter used, with the ground truth."""

from __future__ import annotations

from click.testing import CliRunner

from pipeline.cli.evaluate import eval_
from pipeline.evaluation.plots import energy_plot, segmenter_plots
from pipeline.io.keys import segment_file_key, segments_prefix
from pipeline.io.storage import LocalStorage
from pipeline.segments.config import SegmentationConfig
from pipeline.segments.plots import EnergyCurve, energy_figure
from pipeline.segments.segfile import Segment, SegmentFile, read_segments, write_segments
from pipeline.segments.stage import segment_partition


def _legend(fig) -> list[str]:
    return [t.get_text() for t in fig.legends[0].get_texts()]


def test_eval_plots_show_the_change_point_input_and_the_ground_truth(block_store, tmp_path):
    cfg = SegmentationConfig(method="changepoint", features=("motion",))
    store = LocalStorage(block_store.root)
    segment_partition(store, block_store.date, block_store.station, cfg, write_clips=False)
    pred_dir = block_store.root / segments_prefix(block_store.date, block_store.station)
    pred = read_segments(
        block_store.root / segment_file_key(block_store.date, block_store.station, "block")
    )
    a, b = block_store.move
    gt = SegmentFile(
        "block.mp4", pred.fps, pred.duration_sec,
        (Segment(0.0, a), Segment(a, b), Segment(b, pred.duration_sec)),
    )  # fmt: skip
    gt_dir = tmp_path / "gt"
    write_segments(gt_dir / "block.segments.json", gt)

    (plot,) = segmenter_plots(block_store.root, {"block": pred}).values()
    assert plot.segmenter == cfg.label()
    assert plot.thr_on is None and plot.energy is None  # change points: no gate drawn
    texts = _legend(energy_figure(plot, ground_truth=[a, b]))
    assert "motion x1" in texts and "ground truth (2)" in texts
    assert not any(t.startswith("thr_") for t in texts)

    plots = tmp_path / "plots"
    args = ["--gt", str(gt_dir), "--pred", str(pred_dir), "--store", str(block_store.root)]
    res = CliRunner().invoke(eval_, [*args, "--plots", str(plots)])
    assert res.exit_code == 0, res.output
    assert (plots / "block.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_energy_fallback_draws_thresholds_only_for_gating_methods() -> None:
    import numpy as np

    t = np.arange(50) * 0.4
    curve = EnergyCurve(t, np.abs(np.sin(t)), np.abs(np.sin(t)), 0.5, 0.25)
    pred = SegmentFile("v.mp4", 10.0, 20.0, (Segment(0.0, 5.0, "active"),))
    for method, drawn in (("changepoint", False), ("hysteresis", True), (None, True)):
        texts = _legend(energy_figure(energy_plot("v", curve, pred, method=method)))
        assert any(x.startswith("thr_on") for x in texts) == drawn, method
