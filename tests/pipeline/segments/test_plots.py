"""Energy plot writes a PNG."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from pipeline.segments.plots import plot_energy


def test_plot_energy_writes_png(tmp_path: Path) -> None:
    t = np.arange(100) * 0.4
    e = np.abs(np.sin(t))
    out = plot_energy(
        tmp_path / "p" / "energy.png",
        t,
        e,
        e * 0.9,
        0.5,
        0.475,
        true_boundaries=[3.0, 20.0],
        pred_boundaries=[3.4],
        title="cam1",
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["energy.png"]


def test_plot_energy_rejects_mismatched_shapes(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        plot_energy(tmp_path / "x.png", np.arange(3.0), np.arange(4.0), None, None, None)


def test_merged_boundaries_are_drawn_apart_from_the_kept_ones(tmp_path: Path) -> None:
    """The boundaries the adaptive count rule merged away appear as their own grey lines."""
    from matplotlib import image

    t = np.arange(100) * 0.4
    e = np.abs(np.sin(t))
    kw = {"pred_boundaries": [10.0], "title": "cam1"}
    plain = plot_energy(tmp_path / "a.png", t, e, None, None, None, **kw)
    merged = plot_energy(
        tmp_path / "b.png", t, e, None, None, None, merged_boundaries=[5.0, 25.0, 33.0], **kw
    )

    a, b = (image.imread(p)[..., :3] for p in (plain, merged))
    assert a.shape == b.shape
    changed = np.abs(a - b).max(axis=-1) > 0.05
    assert changed.sum() > 200  # three lines over the axes' height, and their legend entry
    cols = np.flatnonzero(changed.any(axis=0))
    assert cols.size >= 3 and np.diff(cols).max() > 10  # apart, not one smudge


# --- what the segmenter used (issue 14, "What was seen" 9) -------------------------------------


def _legend_texts(fig) -> list[str]:
    (legend,) = fig.legends
    return [t.get_text() for t in legend.get_texts()]


def _changepoint_plot(n_bounds: int = 40):
    from pipeline.segments.plots import SegmentationPlot, Span, Trace

    t = np.arange(400) * 0.1
    rng = np.random.default_rng(0)
    cuts = np.linspace(1.0, 39.0, n_bounds)
    edges = [0.0, *cuts, 40.0]
    spans = tuple(
        Span(a, b, "idle" if i % 4 == 0 else "active")
        for i, (a, b) in enumerate(zip(edges[:-1], edges[1:], strict=True))
    )
    return SegmentationPlot(
        "cam1",
        "changepoint:0123456789ab",
        signals=(
            Trace("motion x1", t, rng.normal(size=t.size)),
            Trace("occlusion x0.5", t, rng.normal(size=t.size)),
        ),  # fmt: skip
        boundaries=tuple(cuts),
        spans=spans,
        merged=(2.5, 7.5),
        duration_sec=40.0,
    )


def test_changepoint_plot_draws_its_inputs_and_boundaries_lightly_with_the_legend_outside() -> None:
    from pipeline.segments.plots import energy_figure

    plot = _changepoint_plot()
    fig = energy_figure(plot)
    texts = _legend_texts(fig)
    assert "motion x1" in texts and "occlusion x0.5" in texts
    assert not any(t.startswith("thr_") for t in texts)  # no threshold the method did not use
    (ax,) = fig.axes
    assert not [ln for ln in ax.get_lines() if len(set(ln.get_ydata())) == 1
                and len(set(ln.get_xdata())) > 1]  # no horizontal line at all  # fmt: skip
    vertical = [ln for ln in ax.get_lines() if len(set(ln.get_xdata())) == 1]
    kept = [ln for ln in vertical if ln.get_color() == "tab:red"]
    assert len(kept) == 40 and all(0 < ln.get_alpha() < 1 and ln.get_linewidth() < 1 for ln in kept)
    merged = [ln for ln in vertical if ln.get_linestyle() == "-."]
    assert len(merged) == 2  # merged boundaries stay drawn apart from the kept ones
    assert "boundary (40)" in texts and "merged (2)" in texts and "idle piece" in texts
    assert ax.get_xlabel() == "time (s)" and ax.get_ylabel()
    title = fig.get_suptitle()
    assert "changepoint:0123456789ab" in title and "40 boundaries" in title
    assert "41 pieces (30 active, 11 idle)" in title
    fig.canvas.draw()
    legend = fig.legends[0].get_window_extent()
    assert not legend.overlaps(ax.get_window_extent())  # the legend is beside the data


def test_hysteresis_plot_draws_its_thresholds() -> None:
    from pipeline.segments.plots import SegmentationPlot, Trace, energy_figure

    t = np.arange(100) * 0.4
    e = np.abs(np.sin(t))
    plot = SegmentationPlot(
        "cam1", "hysteresis:x", energy=Trace("lae (per window)", t, e),
        smoothed=Trace("EMA", t, e * 0.9), thr_on=0.5, thr_off=0.25, boundaries=(3.0,),
    )  # fmt: skip
    fig = energy_figure(plot)
    texts = _legend_texts(fig)
    assert "thr_on 0.5" in texts and "thr_off 0.25" in texts
    levels = sorted(ln.get_ydata()[0] for ln in fig.axes[0].get_lines()
                    if len(set(ln.get_ydata())) == 1 and len(ln.get_ydata()) == 2)  # fmt: skip
    assert levels == [0.25, 0.5]


def test_ground_truth_is_overlaid_when_given() -> None:
    from pipeline.segments.plots import energy_figure

    plot = _changepoint_plot(5)
    plain = energy_figure(plot)
    fig = energy_figure(plot, ground_truth=[4.0, 12.0, 30.0])
    assert not any(t.startswith("ground truth") for t in _legend_texts(plain))
    assert "ground truth (3)" in _legend_texts(fig)
    dashed = [ln for ln in fig.axes[0].get_lines() if ln.get_color() == "tab:green"]
    assert sorted(ln.get_xdata()[0] for ln in dashed) == [4.0, 12.0, 30.0]
    assert "ground truth 3 boundaries" in fig.get_suptitle()


def test_png_bytes_are_deterministic_and_the_preview_is_small() -> None:
    from pipeline.segments.plots import preview_png, render_png

    plot = _changepoint_plot()
    png = render_png(plot, ground_truth=[4.0])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png == render_png(plot, ground_truth=[4.0])
    assert png != render_png(plot)
    small = preview_png(png, max_width=400)
    assert small[:8] == b"\x89PNG\r\n\x1a\n" and len(small) < len(png) / 2
    assert small == preview_png(png, max_width=400)
    from PIL import Image

    with Image.open(io.BytesIO(small)) as im:
        assert im.width == 400
    with Image.open(io.BytesIO(preview_png(png))) as im:  # narrower than the limit: same size
        assert im.size == Image.open(io.BytesIO(png)).size


@pytest.mark.parametrize(
    ("method", "thresholds", "panels"),
    [("changepoint", False, 1), ("hysteresis", True, 1), ("combined", True, 2)],
)
def test_station_plots_draw_what_each_method_used(block_store, method, thresholds, panels) -> None:
    """On a real tracked video: the change-point methods draw the per-step motion input the
    segmenter saw, only the gate's methods draw thresholds; boundaries are the pieces' edges."""
    from pipeline.io.keys import video_stems
    from pipeline.io.storage import LocalStorage
    from pipeline.segments.config import SegmentationConfig
    from pipeline.segments.plots import energy_figure, station_plots
    from pipeline.segments.stage import load_signals
    from pipeline.segments.station import segment_station

    cfg = SegmentationConfig(method=method, features=("motion",))
    store = LocalStorage(block_store.root)
    videos, signals, _ = load_signals(
        store,
        block_store.date,
        block_store.station,
        track_features=cfg if cfg.needs_tracks else None,
    )
    result = segment_station(signals, cfg)
    plots = station_plots(videos, video_stems(videos), signals, result, cfg)
    (plot,) = plots.values()
    res = result.videos[videos[0]["video_id"]]
    fps = float(videos[0]["fps"])
    assert plot.boundaries == tuple(s.end_frame / fps for s in res.segments[:-1])
    assert plot.segmenter == cfg.label()
    fig = energy_figure(plot)
    texts = _legend_texts(fig)
    assert len(fig.axes) == panels
    assert any(t.startswith("thr_on") for t in texts) == thresholds
    assert ("motion x1" in texts) == (method != "hysteresis")
    if method != "hysteresis":  # exactly the column the segmenter was fitted on
        sig = signals[videos[0]["video_id"]]
        line = next(ln for ln in fig.axes[0].get_lines() if ln.get_label() != "_nolegend_"
                    and len(ln.get_xdata()) > 2)  # fmt: skip
        np.testing.assert_allclose(line.get_ydata(), sig.step_features(("motion",), (1.0,))[:, 0])
