"""`laps eval`: score predicted segment files against ground truth, with baselines and plots.

Scoring is ``pipeline.evaluation.harness.evaluate_dirs`` (docs/method.md protocol). stdout gets one
markdown table, one row per method (the prediction first, then each baseline with ``--baselines``);
status and errors go to stderr. ``--json PATH`` writes::

    {"name": <method>, "mean": {<metric>: float, ...}, "per_video": {<stem>: {<metric>: float,
     ..., "error": str | null}}, "errors": {<stem>: str}, "extra_predictions": [<stem>],
     "n_videos": int, "config": {"tolerances_sec": [...], "ious": [...], "exclude_labels": []},
     "gt_dir": str, "pred_dir": str,
     "baselines": {<baseline>: {same keys as the top level from "name" to "config"}, ...},
     "baseline_settings": {"hysteresis": {<HysteresisParams fields but thr_on, which is
                           calibrated per station>}, "calibration_method": str,
                           "transform": str, "pseudo_source": str, "source": str} | null}

Metric keys: ``boundary_{f1,precision,recall}@{0.5,1.0,2.0,5.0}``,
``segment_{f1,precision,recall}@{0.1,0.25,0.5}``, ``n_true``, ``n_pred`` (segments, after idle
filling), ``n_true_boundaries``, ``n_pred_boundaries``. ``baselines`` is ``{}`` without
``--baselines``. A missing or invalid prediction is an error: its rates are 0 and it counts in
the mean. A baseline that cannot run (e.g. the store has no windows table) is an error for
every video, listed the same way.
"""

from __future__ import annotations

import json
import logging
import shlex
import sys
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from pipeline.errors import (
    EvaluationError,
    SegmentFileError,
)
from pipeline.evaluation.baselines import (
    BASELINE_FAILURES,
    UNIFORM_ORACLE,
    MethodSettings,
    energy_runs,
    load_store_videos,
    method_settings,
    write_baselines,
)
from pipeline.evaluation.benchmarks import append_quality_rows
from pipeline.evaluation.harness import (
    EvalReport,
    evaluate_dirs,
    format_score,
)
from pipeline.evaluation.kernel_oracle import KERNEL_ORACLE
from pipeline.evaluation.metrics import interior_boundaries
from pipeline.evaluation.plots import energy_plot, prediction_config, segmenter_plots
from pipeline.io.keys import store_video_stems
from pipeline.io.storage import open_storage
from pipeline.io.tables import read_table
from pipeline.segments.plots import EnergyCurve, energy_curves, write_plot_png
from pipeline.segments.segfile import (
    SEGMENT_SUFFIX,
    SegmentFile,
    fill_gaps,
    read_segments,
    stem_of,
)

log = logging.getLogger(__name__)
err = Console(stderr=True)

DirPath = click.Path(file_okay=False, path_type=Path)


@click.command("eval")
@click.option(
    "--gt",
    "gt_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="ground-truth <stem>.segments.json folder",
)
@click.option(
    "--pred",
    "pred_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="predictions: <stem>.segments.json at top level (a `laps segment` output)",
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write all scores as JSON here",
)
@click.option(
    "--name",
    default=None,
    help="method name in the table (default: the predictions' meta.segmenter, else 'prediction')",
)
@click.option(
    "--baselines",
    "with_baselines",
    is_flag=True,
    help="also score flow_energy, pixel_diff, track_speed and uniform_oracle_k",
)
@click.option(
    "--store",
    "store_dir",
    type=DirPath,
    default=None,
    help="store root with tables/ for baselines and plots (default: --pred)",
)
@click.option(
    "--baselines-out",
    type=DirPath,
    default=None,
    help="where baseline predictions are written (default: <pred>/eval_baselines)",
)
@click.option(
    "--pseudo-source",
    type=click.Choice(["track_speed", "self"]),
    default="track_speed",
    show_default=True,
    help="pseudo-label signal of the energy baselines' calibration",
)
@click.option(
    "--plots", "plots_dir", type=DirPath, default=None, help="write one energy PNG per video here"
)
@click.option("--per-video", is_flag=True, help="also print the prediction's per-video table")
@click.option("--dataset", default="", help="dataset description for the BENCHMARKS.md row")
@click.option(
    "--benchmarks-md",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("BENCHMARKS.md"),
    show_default=True,
)
@click.option(
    "--append", is_flag=True, help="append the means to the quality table of --benchmarks-md"
)
@click.option(
    "--strict", is_flag=True, help="exit with status 3 when any prediction is missing or invalid"
)
def eval_(
    gt_dir: Path,
    pred_dir: Path,
    json_path: Path | None,
    name: str | None,
    with_baselines: bool,
    store_dir: Path | None,
    baselines_out: Path | None,
    pseudo_source: str,
    plots_dir: Path | None,
    per_video: bool,
    dataset: str,
    benchmarks_md: Path,
    append: bool,
    strict: bool,
) -> None:
    """Score <stem>.segments.json of --pred against --gt (boundary F1, segment F1, counts)."""
    store = store_dir or pred_dir
    method = name or _pred_name(pred_dir)
    try:
        report = evaluate_dirs(gt_dir, pred_dir, name=method)
    except EvaluationError as exc:
        raise click.ClickException(str(exc)) from exc
    reports: dict[str, EvalReport] = {method: report}
    settings: MethodSettings | None = None
    if with_baselines:
        settings = method_settings(pred_dir)
        out_root = baselines_out or pred_dir / "eval_baselines"
        reports.update(_baseline_reports(gt_dir, store, out_root, settings, pseudo_source))
    click.echo(methods_markdown(reports), nl=False)
    if with_baselines:
        err.print(
            f"note: {UNIFORM_ORACLE} and {KERNEL_ORACLE} are oracles (each is given the true "
            "segment count)"
        )
    if per_video:
        click.echo("\n" + report.to_markdown(per_video=True), nl=False)
    for stem, msg in report.errors.items():
        err.print(f"[red]error[/] {stem}: {msg} (scored 0)")
    if json_path:
        _write_json(json_path, reports, method, gt_dir, pred_dir, settings, pseudo_source)
        err.print(f"wrote {json_path}")
    if plots_dir:
        n = write_plots(gt_dir, pred_dir, store, plots_dir, settings or method_settings(pred_dir))
        err.print(f"wrote {n} plots to {plots_dir}")
    if append:
        command = shlex.join(["laps", "eval", *sys.argv[2:]])
        append_quality_rows(
            benchmarks_md,
            {k: r.mean for k, r in reports.items()},
            command=command.strip(),
            dataset=dataset or str(gt_dir),
            errors={k: len(r.errors) for k, r in reports.items()},
        )
        err.print(f"appended {len(reports)} rows to {benchmarks_md}")
    if strict and report.errors:
        sys.exit(3)


def _pred_name(pred_dir: Path) -> str:
    """``meta.segmenter`` of the first readable prediction (sorted), else ``"prediction"``."""
    for path in sorted(pred_dir.glob(f"*{SEGMENT_SUFFIX}")):
        try:
            segmenter = read_segments(path).meta.get("segmenter")
        except SegmentFileError:
            continue  # scored (and reported) as an invalid prediction by evaluate_dirs
        if isinstance(segmenter, str) and segmenter:
            return segmenter
    return "prediction"


def methods_markdown(reports: dict[str, EvalReport]) -> str:
    """One markdown row per method (its mean over videos), in the order given."""
    first = next(iter(reports.values()))
    cols = first.columns()
    lines = [
        "| method | " + " | ".join(cols) + " | errors |",
        "|---" * (len(cols) + 2) + "|",
    ]
    for method, rep in reports.items():
        cells = [format_score(rep.mean.get(c, float("nan")), c) for c in cols]
        lines.append(f"| {method} | " + " | ".join(cells) + f" | {len(rep.errors)} |")
    return "\n".join(lines) + "\n"


def _baseline_reports(
    gt_dir: Path, store: Path, out_root: Path, settings: MethodSettings, pseudo_source: str
) -> dict[str, EvalReport]:
    """Write and score every baseline; one that cannot run scores 0 with its error listed."""
    failures: dict[str, str] = {}
    folders = write_baselines(
        store, gt_dir, out_root,
        params=settings.params, calibration_method=settings.calibration_method,
        transform=settings.transform,
        pseudo_source="self" if pseudo_source == "self" else "track_speed",
        failures=failures,
    )  # fmt: skip
    out: dict[str, EvalReport] = {}
    for n, folder in folders.items():
        if n in failures:
            err.print(f"[red]baseline {n} failed[/]: {failures[n]} (scored 0)")
        out[n] = evaluate_dirs(gt_dir, folder, name=n)
    return out


def _write_json(
    path: Path,
    reports: dict[str, EvalReport],
    method: str,
    gt_dir: Path,
    pred_dir: Path,
    settings: MethodSettings | None,
    pseudo_source: str,
) -> None:
    data: dict[str, Any] = reports[method].to_dict()
    data.update(gt_dir=str(gt_dir), pred_dir=str(pred_dir))
    data["baselines"] = {k: r.to_dict() for k, r in reports.items() if k != method}
    data["baseline_settings"] = None
    if settings is not None:
        data["baseline_settings"] = {
            "hysteresis": settings.params.model_dump(mode="json", exclude={"thr_on"}),
            "calibration_method": settings.calibration_method,
            "transform": settings.transform,
            "pseudo_source": pseudo_source,
            "source": settings.source,
        }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)


def write_plots(
    gt_dir: Path, pred_dir: Path, store: Path, plots_dir: Path, settings: MethodSettings
) -> int:
    """One PNG per ground-truth video: what the prediction's segmenter used when the store
    holds its signals (``pipeline.evaluation.plots``), else the store's ``energy`` table (lae,
    lae_smoothed) or flow energy calibrated like the flow baseline; predicted pieces and the
    true boundaries overlaid. Videos with neither are logged and skipped."""
    preds = {
        stem_of(p): pred
        for p in sorted(pred_dir.glob(f"*{SEGMENT_SUFFIX}"))
        if (pred := _read_pred(p)) is not None
    }
    seen = segmenter_plots(store, preds)
    gt_paths = sorted(gt_dir.glob(f"*{SEGMENT_SUFFIX}"))
    need_energy = any(stem_of(p) not in seen for p in gt_paths)
    curves = _energy_curves(store, settings) if need_energy else {}
    n = 0
    for gt_path in gt_paths:
        stem = stem_of(gt_path)
        pred = preds.get(stem)
        plot = seen.get(stem)
        if plot is None and stem in curves:
            cfg = prediction_config(pred) if pred is not None else None
            plot = energy_plot(stem, curves[stem], pred, method=cfg.method if cfg else None)
        if plot is None:
            err.print(f"[yellow]no energy for {stem} in {store}; no plot[/]")
            continue
        gt = read_segments(gt_path)
        true_b = interior_boundaries(
            fill_gaps(gt.segments, duration_sec=gt.duration_sec), duration_sec=gt.duration_sec
        )
        write_plot_png(plots_dir / f"{stem}.png", plot, ground_truth=true_b.tolist())
        n += 1
    return n


def _read_pred(path: Path) -> SegmentFile | None:
    try:
        return read_segments(path)
    except SegmentFileError as exc:
        err.print(f"[yellow]unreadable prediction {path.name}: {exc}[/]")
        return None


def _energy_curves(store: Path, settings: MethodSettings) -> dict[str, EnergyCurve]:
    """stem -> the video's energy curve: the store's ``energy`` table (the same reader the
    segments stage plots with), else flow energy calibrated like the flow baseline."""
    storage = open_storage(str(store))
    videos = read_table(storage, "videos")
    if videos is None:
        log.warning("%s has no videos table: no plots", store)
        return {}
    stems = store_video_stems(
        videos.select(["video_id", "file_name", "date", "station"]).to_pylist()
    )
    energy = read_table(storage, "energy")
    if energy is not None:
        return energy_curves(energy.to_pylist(), stems)
    try:
        runs = energy_runs(
            load_store_videos(store),
            "flow_magnitude",
            params=settings.params,
            calibration_method=settings.calibration_method,
            transform=settings.transform,
        )
    except BASELINE_FAILURES as exc:
        log.warning("no energy table and no flow energy in %s: %s", store, exc)
        return {}
    return {
        stem: EnergyCurve(
            v.times, v.energy, v.smoothed, run.thr_on, run.thr_off, "flow energy (fallback)"
        )
        for run in runs.values()
        for stem, v in run.videos.items()
    }
