"""Images people look at: what one video's segmenter used and what it chose (matplotlib, Agg).

``SegmentationPlot`` holds what is drawn; ``video_plot`` builds it from a video's signals and its
segmentation, the way the configured method saw them:

- ``changepoint``: the per-step input of the change points, one line per feature group, as the
  segmenter saw it (robustly standardised and weighted: ``VideoSignals.step_features``); no
  thresholds (the pieces are labelled idle by their mean EMA energy, shown as the band);
- ``hysteresis``: the gate's per-window energy, its EMA and the calibrated ``thr_on`` /
  ``thr_off``;
- ``combined``: both panels (the gate and the change points both cut).

Every panel shows the chosen boundaries as thin light lines, idle pieces as a light band, the
boundaries the ``adaptive`` count rule merged away as grey dash-dot lines and, when given, the
ground truth as green dashed lines; the legend sits right of the data. ``render_png`` gives
the same bytes for the same plot. Plotting is kept out of the algorithms.
"""

from __future__ import annotations

import io
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from pipeline.segments.segfile import IDLE_LABEL

if TYPE_CHECKING:
    from matplotlib.figure import Figure

    from pipeline.segments.config import SegmentationConfig
    from pipeline.segments.signals import VideoSignals
    from pipeline.segments.station import StationResult

log = logging.getLogger(__name__)

BOUNDARY_STYLE = {"color": "tab:red", "lw": 0.7, "alpha": 0.45}
MERGED_STYLE = {"color": "0.45", "lw": 0.7, "ls": "-.", "alpha": 0.6}
TRUTH_STYLE = {"color": "tab:green", "lw": 1.0, "ls": "--", "alpha": 0.8}
BAND_COLORS = {IDLE_LABEL: "0.88", "uncalibrated": "#fbeec1"}  # active: no band
PNG_METADATA = {"Software": None}  # bytes independent of the matplotlib version


@dataclass(frozen=True)
class Trace:
    """One line: ``values`` (n,) at ``times`` (n,) seconds."""

    label: str
    times: np.ndarray
    values: np.ndarray

    def __post_init__(self) -> None:
        t, v = np.asarray(self.times, float), np.asarray(self.values, float)
        if t.shape != v.shape or t.ndim != 1:
            raise ValueError(
                f"{self.label}: times {t.shape} and values {v.shape} must be equal 1-d"
            )
        object.__setattr__(self, "times", t)
        object.__setattr__(self, "values", v)


@dataclass(frozen=True)
class Span:
    """A labelled piece ``[start_sec, end_sec)`` of the segmentation."""

    start_sec: float
    end_sec: float
    label: str


@dataclass(frozen=True)
class SegmentationPlot:
    """What one video's segmenter used and chose (empty fields are not drawn)."""

    title: str
    segmenter: str = ""  # the segmenter label (``SegmentationConfig.label``)
    signals: tuple[Trace, ...] = ()  # the change points' per-step input
    energy: Trace | None = None  # the gate's per-window energy
    smoothed: Trace | None = None  # its EMA
    thr_on: float | None = None  # the gate's thresholds (hysteresis, combined)
    thr_off: float | None = None
    boundaries: tuple[float, ...] = ()  # chosen interior boundaries, s
    spans: tuple[Span, ...] = ()
    merged: tuple[float, ...] = ()  # found but merged away (adaptive count rule), s
    duration_sec: float | None = None


def energy_figure(plot: SegmentationPlot, *, ground_truth: Sequence[float] = ()) -> Figure:
    """The matplotlib ``Figure`` of ``plot`` (Agg canvas attached), with the ground-truth
    boundaries (seconds) overlaid when given."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    panels = []
    if plot.signals:
        panels.append("signals")
    if plot.energy is not None or plot.smoothed is not None:
        panels.append("energy")
    if not panels:  # e.g. a still video whose thresholds could not be calibrated
        panels.append("empty")
    end = _end_sec(plot)
    width = max(9.0, min(30.0, end / 4.0))
    fig = Figure(figsize=(width, 1.2 + 2.4 * len(panels)), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(panels), 1, sharex=True, squeeze=False)[:, 0]
    handles: dict[str, Any] = {}
    for ax, panel in zip(axes, panels, strict=True):
        _draw_spans(ax, plot.spans, handles)
        if panel == "signals":
            _draw_signals(ax, plot.signals, handles)
        elif panel == "energy":
            _draw_energy(ax, plot, handles)
        else:
            ax.text(0.5, 0.5, "no signal or energy to draw", transform=ax.transAxes,
                    ha="center", va="center", color="0.4")  # fmt: skip
        _draw_lines(ax, plot.boundaries, BOUNDARY_STYLE, f"boundary ({len(plot.boundaries)})",
                    handles)  # fmt: skip
        _draw_lines(ax, plot.merged, MERGED_STYLE, f"merged ({len(plot.merged)})", handles)
        gt_label = f"ground truth ({len(ground_truth)})"
        _draw_lines(ax, ground_truth, TRUTH_STYLE, gt_label, handles)
        ax.set_xlim(0.0, end)
        ax.margins(x=0)
    axes[-1].set_xlabel("time (s)")
    fig.suptitle(_title(plot, ground_truth), fontsize="medium")
    fig.legend(list(handles.values()), list(handles), loc="outside right upper",
               fontsize="small", frameon=False)  # fmt: skip
    return fig


def render_png(plot: SegmentationPlot, *, ground_truth: Sequence[float] = ()) -> bytes:
    """PNG bytes of ``energy_figure`` (the same bytes for the same plot)."""
    buf = io.BytesIO()
    energy_figure(plot, ground_truth=ground_truth).savefig(buf, format="png", metadata=PNG_METADATA)
    return buf.getvalue()


def write_plot_png(
    path_png: str | Path, plot: SegmentationPlot, *, ground_truth: Sequence[float] = ()
) -> Path:
    """Write ``render_png`` atomically (temp file + rename); the path."""
    path = Path(path_png)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp.png")
    tmp.write_bytes(render_png(plot, ground_truth=ground_truth))
    tmp.replace(path)
    log.debug("segmentation plot written to %s", path)
    return path


def preview_png(png: bytes, *, max_width: int = 1000, colors: int = 64) -> bytes:
    """``png`` scaled down to at most ``max_width`` pixels wide (aspect kept) and reduced to a
    palette of ``colors`` (the plots' few flat colours survive it): about a third of the bytes,
    small enough to embed in Dagster metadata. Deterministic."""
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        rgb = im.convert("RGB")
    if rgb.width > max_width:
        size = (max_width, max(1, round(rgb.height * max_width / rgb.width)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    rgb.quantize(colors, method=Image.Quantize.FASTOCTREE).save(buf, format="PNG", optimize=True)
    return buf.getvalue()


def plot_energy(
    path_png: str | Path,
    times: np.ndarray,
    energy: np.ndarray,
    smoothed: np.ndarray | None,
    thr_on: float | None,
    thr_off: float | None,
    true_boundaries: Sequence[float] = (),
    pred_boundaries: Sequence[float] = (),
    title: str = "",
    merged_boundaries: Sequence[float] = (),
) -> Path:
    """An energy-only plot (a per-window energy, its EMA, thresholds) with predicted, merged
    and true boundaries: ``write_plot_png`` of the matching ``SegmentationPlot``."""
    t, e = np.asarray(times, dtype=float), np.asarray(energy, dtype=float)
    if t.shape != e.shape or t.ndim != 1:
        raise ValueError(f"times {t.shape} and energy {e.shape} must be equal 1-d shapes")
    plot = SegmentationPlot(
        title=title,
        energy=Trace("energy", t, e),
        smoothed=None if smoothed is None else Trace("EMA", t, np.asarray(smoothed, float)),
        thr_on=thr_on,
        thr_off=thr_off,
        boundaries=tuple(float(b) for b in pred_boundaries),
        merged=tuple(float(b) for b in merged_boundaries),
    )
    return write_plot_png(path_png, plot, ground_truth=[float(b) for b in true_boundaries])


def video_plot(
    sig: VideoSignals,
    spans: Sequence[Span],
    cfg: SegmentationConfig,
    *,
    title: str,
    smoothed: np.ndarray | None = None,
    thr_on: float | None = None,
    thr_off: float | None = None,
    merged: Sequence[float] = (),
) -> SegmentationPlot:
    """What ``cfg.method`` used for one video (module doc) and the pieces it chose.

    ``spans``: the contiguous labelled pieces; ``smoothed``: the EMA of the gate's energy
    (computed with ``cfg.alpha`` when ``None``); thresholds ``None`` or infinite: not calibrated."""
    from pipeline.segments.energy import ema

    bounds = tuple(float(s.end_sec) for s in spans[:-1])
    gate = cfg.method in ("hysteresis", "combined")
    energy = energy_trace = smooth_trace = None
    if gate and sig.window_index.size:
        energy = sig.energy(cfg.energy)
        ema_values = ema(energy, alpha=cfg.alpha) if smoothed is None else smoothed
        energy_trace = Trace(f"{cfg.energy} (per window)", sig.centre_sec, energy)
        smooth_trace = Trace(f"EMA (alpha {cfg.alpha:g})", sig.centre_sec, ema_values)
    return SegmentationPlot(
        title=title,
        segmenter=cfg.label(),
        signals=step_traces(sig, cfg) if cfg.method != "hysteresis" else (),
        energy=energy_trace,
        smoothed=smooth_trace,
        thr_on=_finite(thr_on) if gate else None,
        thr_off=_finite(thr_off) if gate else None,
        boundaries=bounds,
        spans=tuple(spans),
        merged=tuple(float(m) for m in merged),
        duration_sec=sig.duration_sec,
    )


def step_traces(sig: VideoSignals, cfg: SegmentationConfig) -> tuple[Trace, ...]:
    """The change points' per-step input, one ``Trace`` per feature group: the group's columns
    of ``sig.step_features`` (robustly standardised, weighted), its norm when it has several
    dims. Groups the segmenter left out (constant, weight 0) are not drawn."""
    if not sig.window_index.size:
        return ()
    times = sig.step_times()
    out = []
    for name, weight in zip(cfg.features, cfg.weights(), strict=True):
        x = sig.step_features((name,), (weight,))
        if x.shape[1] == 0:
            continue
        values = x[:, 0] if x.shape[1] == 1 else np.linalg.norm(x, axis=1)
        dims = "" if x.shape[1] == 1 else f" |{x.shape[1]} dims|"
        out.append(Trace(f"{name}{dims} x{weight:g}", times, values))
    return tuple(out)


def station_plots(
    videos: Sequence[Mapping[str, Any]],
    stems: Mapping[str, str],
    signals: Mapping[str, VideoSignals],
    result: StationResult,
    cfg: SegmentationConfig,
    *,
    limit: int = 20,
) -> dict[str, SegmentationPlot]:
    """stem -> ``video_plot`` of the first ``limit`` videos (those with windows) of a
    ``segment_station`` result."""
    out = {}
    for v in list(videos)[:limit]:
        vid = v["video_id"]
        res, sig = result.videos.get(vid), signals.get(vid)
        if res is None or sig is None or not sig.window_index.size:
            continue
        fps = float(v["fps"])
        spans = [Span(s.start_frame / fps, s.end_frame / fps, s.label) for s in res.segments]
        merged = (res.granularity or {}).get("merged_at_sec", [])
        out[stems[vid]] = video_plot(
            sig, spans, cfg, title=stems[vid], smoothed=res.smoothed,
            thr_on=result.thr_on, thr_off=result.thr_off, merged=merged,
        )  # fmt: skip
    return out


def write_energy_plots(
    store,  # pipeline.io.storage.Storage
    date: str,
    station: str,
    plots: Mapping[str, SegmentationPlot],
) -> list[str]:
    """One PNG per plot (stem -> plot, e.g. ``station_plots``) under
    ``plots/date=D/station=S/<stem>.energy.png``; their keys, sorted by stem."""
    from pipeline.io.keys import energy_plot_key

    keys = []
    for stem, plot in sorted(plots.items()):
        key = energy_plot_key(date, station, stem)
        store.write_bytes(key, render_png(plot))
        keys.append(key)
    return keys


@dataclass(frozen=True)
class EnergyCurve:
    """One video's per-window energy, its EMA and the station's thresholds, for a plot."""

    times: np.ndarray  # (W,) window centres, seconds
    energy: np.ndarray
    smoothed: np.ndarray
    thr_on: float | None  # None: not calibrated
    thr_off: float | None
    label: str = "LAE"


def energy_curves(
    energy_rows: Iterable[Mapping[str, Any]], stems: Mapping[str, str]
) -> dict[str, EnergyCurve]:
    """stem -> ``EnergyCurve`` from rows of the ``energy`` table (any order), for the videos
    named in ``stems`` (video_id -> stem) that have rows."""
    rows: dict[str, list[Mapping[str, Any]]] = {}
    for r in energy_rows:
        if r["video_id"] in stems:
            rows.setdefault(r["video_id"], []).append(r)
    out = {}
    for vid, er in rows.items():
        er = sorted(er, key=lambda r: r["window_index"])
        on, off = (float(er[0][k]) for k in ("thr_on", "thr_off"))
        out[stems[vid]] = EnergyCurve(
            np.array([r["center_sec"] for r in er], np.float64),
            np.array([r["lae"] for r in er], np.float64),
            np.array([r["lae_smoothed"] for r in er], np.float64),
            _finite(on),
            _finite(off),
        )
    return out


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


def _end_sec(plot: SegmentationPlot) -> float:
    if plot.duration_sec:
        return float(plot.duration_sec)
    ends = [float(t.times[-1]) for t in (*plot.signals, plot.energy, plot.smoothed)
            if t is not None and t.times.size]  # fmt: skip
    ends += [s.end_sec for s in plot.spans]
    return max([*ends, 1e-3])


def _title(plot: SegmentationPlot, ground_truth: Sequence[float]) -> str:
    head = f"{plot.title}: {plot.segmenter}" if plot.segmenter else plot.title
    parts = []
    if plot.spans:
        idle = sum(1 for s in plot.spans if s.label == IDLE_LABEL)
        parts.append(f"{len(plot.spans)} pieces ({len(plot.spans) - idle} active, {idle} idle)")
    parts.append(f"{len(plot.boundaries)} boundaries")
    if plot.merged:
        parts.append(f"{len(plot.merged)} merged away")
    if len(ground_truth):
        parts.append(f"ground truth {len(ground_truth)} boundaries")
    return f"{head}\n{', '.join(parts)}"


def _draw_spans(ax, spans: Sequence[Span], handles: dict[str, Any]) -> None:
    for s in spans:
        color = BAND_COLORS.get(s.label)
        if color is None:
            continue
        h = ax.axvspan(s.start_sec, s.end_sec, color=color, lw=0, zorder=0)
        handles.setdefault(f"{s.label} piece", h)


def _draw_signals(ax, signals: Sequence[Trace], handles: dict[str, Any]) -> None:
    colors = ("tab:blue", "tab:purple", "tab:orange", "tab:brown", "tab:cyan", "tab:olive")
    for i, tr in enumerate(signals):
        (h,) = ax.plot(tr.times, tr.values, lw=0.8, color=colors[i % len(colors)], zorder=2)
        handles[tr.label] = h
    ax.set_ylabel("change-point input\n(robust z x weight)")


def _draw_energy(ax, plot: SegmentationPlot, handles: dict[str, Any]) -> None:
    if plot.energy is not None:
        (h,) = ax.plot(plot.energy.times, plot.energy.values, lw=0.8, color="0.55", zorder=2)
        handles[plot.energy.label] = h
    if plot.smoothed is not None:
        (h,) = ax.plot(plot.smoothed.times, plot.smoothed.values, lw=1.2, color="tab:blue",
                       zorder=3)  # fmt: skip
        handles[plot.smoothed.label] = h
    for thr, ls, name in ((plot.thr_on, "-", "thr_on"), (plot.thr_off, "--", "thr_off")):
        if thr is not None:
            handles[f"{name} {thr:.3g}"] = ax.axhline(thr, color="tab:orange", lw=1, ls=ls)
    ax.set_ylabel("energy")


def _draw_lines(
    ax, times: Sequence[float], style: Mapping[str, Any], label: str, handles: dict[str, Any]
) -> None:
    for b in times:
        h = ax.axvline(float(b), zorder=4, **style)
        handles.setdefault(label, h)
