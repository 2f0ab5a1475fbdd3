"""Plots of ``laps eval --plots``: what each prediction's segmenter used, with ground truth.

``segmenter_plots`` rebuilds, from a store, the signals the segments stage segmented with (the
``segmentation_config`` in each prediction's ``meta``) and draws them with the predicted pieces,
as the stage's own plots do (``pipeline.segments.plots.video_plot``). ``energy_plot`` is the
fallback for predictions without that provenance or stores without the signals: a per-window
energy, its EMA and, only for the methods that gate on them, the thresholds.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

from pipeline.errors import LapsError
from pipeline.io.keys import store_video_stems
from pipeline.io.storage import open_storage
from pipeline.io.tables import read_table
from pipeline.segments.config import SegmentationConfig
from pipeline.segments.plots import EnergyCurve, SegmentationPlot, Span, Trace, video_plot
from pipeline.segments.segfile import SegmentFile, fill_gaps

log = logging.getLogger(__name__)

GATED_METHODS = ("hysteresis", "combined")


def prediction_config(pred: SegmentFile) -> SegmentationConfig | None:
    """The ``SegmentationConfig`` a prediction records in ``meta`` (None: not recorded)."""
    raw = pred.meta.get("segmentation_config")
    if not isinstance(raw, dict):
        return None
    try:
        return SegmentationConfig.model_validate(raw)
    except ValueError as exc:
        log.warning("%s: unreadable segmentation_config (%s)", pred.video, exc)
        return None


def prediction_spans(pred: SegmentFile) -> list[Span]:
    """The prediction's contiguous labelled pieces (gaps filled as idle)."""
    segs = fill_gaps(pred.segments, duration_sec=pred.duration_sec)
    return [Span(s.start_sec, s.end_sec, s.label or "active") for s in segs]


def segmenter_plots(
    store: str | Path, preds: Mapping[str, SegmentFile]
) -> dict[str, SegmentationPlot]:
    """stem -> the plot of what the prediction's segmenter used, for the predictions (stem ->
    file) that record their config and whose partition's tables and tracks the store holds."""
    from pipeline.segments.stage import load_signals  # the stage's own reader

    configs = {stem: cfg for stem, p in preds.items() if (cfg := prediction_config(p))}
    if not configs:
        return {}
    storage = open_storage(str(store))
    videos = read_table(storage, "videos")
    if videos is None:
        return {}
    rows = videos.select(["video_id", "file_name", "date", "station"]).to_pylist()
    stems = store_video_stems(rows)
    parts: dict[tuple[str, str, str], list[str]] = {}  # (date, station, config) -> video ids
    for r in rows:
        stem = stems[r["video_id"]]
        if stem in configs:
            key = (r["date"], r["station"], configs[stem].model_dump_json())
            parts.setdefault(key, []).append(r["video_id"])
    out = {}
    for (date, station, raw), ids in sorted(parts.items()):
        cfg = SegmentationConfig.model_validate_json(raw)
        try:
            _, signals, _ = load_signals(
                storage, date, station, track_features=cfg if cfg.needs_tracks else None
            )
        except LapsError as exc:
            log.warning(
                "%s/%s: no segmenter signals (%s); energy plots instead", date, station, exc
            )
            continue
        for vid in ids:
            if vid not in signals or not signals[vid].window_index.size:
                continue
            stem, pred = stems[vid], preds[stems[vid]]
            cal = pred.meta.get("calibration") or {}
            out[stem] = video_plot(
                signals[vid], prediction_spans(pred), cfg, title=stem,
                thr_on=cal.get("thr_on"), thr_off=cal.get("thr_off"),
                merged=(pred.meta.get("granularity") or {}).get("merged_at_sec", []),
            )  # fmt: skip
    return out


def energy_plot(
    stem: str, curve: EnergyCurve, pred: SegmentFile | None, *, method: str | None
) -> SegmentationPlot:
    """The fallback plot: ``curve`` with the predicted pieces; thresholds only when ``method``
    gates on them (or is unknown)."""
    gated = method is None or method in GATED_METHODS
    spans: Sequence[Span] = prediction_spans(pred) if pred is not None else ()
    return SegmentationPlot(
        title=f"{stem}: {curve.label}" + ("" if gated else f" (not the {method} input)"),
        segmenter=str(pred.meta.get("segmenter", "")) if pred is not None else "",
        energy=Trace(curve.label, curve.times, curve.energy),
        smoothed=Trace("EMA", curve.times, curve.smoothed),
        thr_on=curve.thr_on if gated else None,
        thr_off=curve.thr_off if gated else None,
        boundaries=tuple(s.end_sec for s in spans[:-1]),
        spans=tuple(spans),
        duration_sec=pred.duration_sec if pred is not None else None,
    )
