"""Images people look at: the energy curve with thresholds and boundaries (matplotlib, Agg).

Plotting is kept out of the algorithms; this module only draws what it is given.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)


def _pyplot():
    """matplotlib.pyplot on the Agg backend, imported on first use (it costs ~0.3 s)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


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
    """Write a PNG of the per-window energy (and its EMA) against time.

    times: (W,) seconds (window centres); energy, smoothed: (W,); thresholds in energy units;
    true boundaries are drawn as green dashed lines, predicted ones as red dotted lines, and
    boundaries the segmenter found but merged away (the ``adaptive`` count rule) as thin grey
    dash-dot lines. The PNG is written atomically (temp file + rename) and its path returned.
    """
    t = np.asarray(times, dtype=float)
    e = np.asarray(energy, dtype=float)
    if t.shape != e.shape or t.ndim != 1:
        raise ValueError(f"times {t.shape} and energy {e.shape} must be equal 1-d shapes")
    path = Path(path_png)
    path.parent.mkdir(parents=True, exist_ok=True)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(max(8.0, min(40.0, t.size / 50)), 3.2), dpi=100)
    try:
        ax.plot(t, e, lw=0.8, color="0.55", label="energy")
        if smoothed is not None:
            ax.plot(t, np.asarray(smoothed, float), lw=1.2, color="tab:blue", label="EMA")
        if thr_on is not None:
            ax.axhline(thr_on, color="tab:orange", lw=1, label=f"thr_on {thr_on:.3g}")
        if thr_off is not None:
            ax.axhline(thr_off, color="tab:orange", lw=1, ls="--", label=f"thr_off {thr_off:.3g}")
        for i, b in enumerate(true_boundaries):
            ax.axvline(b, color="tab:green", lw=1, ls="--", label="true" if i == 0 else None)
        for i, b in enumerate(pred_boundaries):
            ax.axvline(b, color="tab:red", lw=1, ls=":", label="predicted" if i == 0 else None)
        for i, b in enumerate(merged_boundaries):
            ax.axvline(b, color="0.6", lw=0.7, ls="-.", label="merged" if i == 0 else None)
        ax.set_xlabel("time (s)")
        ax.set_ylabel("energy")
        ax.set_title(title)
        ax.legend(loc="upper right", fontsize="small", ncol=3)
        fig.tight_layout()
        tmp = path.with_name(f".{path.name}.tmp.png")
        fig.savefig(tmp, format="png")
        tmp.replace(path)
    finally:
        plt.close(fig)
    log.debug("energy plot written to %s", path)
    return path


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
            on if math.isfinite(on) else None,
            off if math.isfinite(off) else None,
        )
    return out


def write_energy_plots(
    store,  # pipeline.io.storage.Storage
    date: str,
    station: str,
    videos: Sequence[Mapping[str, Any]],
    stems: Mapping[str, str],
    energy_rows: Sequence[Mapping[str, Any]],
    segment_rows: Sequence[Mapping[str, Any]],
    *,
    limit: int = 20,
    merged: Mapping[str, Sequence[float]] | None = None,
) -> list[str]:
    """One energy PNG per video (energy, its EMA, thresholds, predicted boundaries and, from
    ``merged`` (stem -> seconds), the boundaries merged away) under
    ``plots/date=D/station=S/<stem>.energy.png`` (at most ``limit`` videos); their keys."""
    from pipeline.io.keys import energy_plot_key
    from pipeline.io.scratch import scratch_dir

    bounds: dict[str, set[float]] = {}
    for s in segment_rows:
        bounds.setdefault(stems[s["video_id"]], set()).update((s["start_sec"], s["end_sec"]))
    chosen = {v["video_id"]: stems[v["video_id"]] for v in list(videos)[:limit]}
    keys = []
    for stem, c in sorted(energy_curves(energy_rows, chosen).items()):
        key = energy_plot_key(date, station, stem)
        with scratch_dir("laps-plot") as tmp:  # a killed run's is swept by the next one
            png = plot_energy(
                Path(tmp) / "e.png", c.times, c.energy, c.smoothed, c.thr_on, c.thr_off,
                pred_boundaries=sorted(bounds.get(stem, set())), title=stem,
                merged_boundaries=(merged or {}).get(stem, ()),
            )  # fmt: skip
            store.write_bytes(key, png.read_bytes())
        keys.append(key)
    return keys
