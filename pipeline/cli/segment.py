"""`laps segment`: the whole pipeline on a folder of videos, outside Dagster.

Runs ``pipeline.stages.STAGES`` in order (the list the Dagster assets run) on one (date,
station) partition of the store rooted at ``--output``: ingest (probe, quarantine bad files) ->
chunks -> tracks -> tokenizer (``--checkpoint`` installed as current, or trained / reused on
every stored track file of that store) -> codes -> segments (energy, segment files, clips,
energy plots).

Input: the video files (``.mp4 .mov .mkv .avi .webm .m4v``) directly in ``--input``; with
``--recursive`` also those in its subfolders (files under ``--output`` excluded). File names are
free; hidden files (``.name``) are ignored. The partition is ``--date`` (default: the UTC date of
the oldest input file's modification time, so a rerun on the same files hits the same partition)
and ``--station`` (default: the input folder's name). ``--config`` is a JSON ``PipelineConfig``
(sections ``video``, ``windows``, ``tracking``, ``tokenizer``, ``segmentation``, and
``write_clips``), or, as before, ``SegmentationConfig`` fields alone. Output: the store
(tables/, tracks/, models/, segments/, clips/, plots/) plus ``<stem>.segments.json`` of every
video at the top of ``--output``. Reruns replace the partition's outputs (same files -> same
rows). A video already ingested in ANOTHER partition of the same store is skipped (reported).
Exit code 0 when at least one video was segmented, 1 when none or when the station's
thresholds could not be calibrated (then nothing is published), 2 for unusable options (bad
config, checkpoint, date, station).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from pipeline.cli.console import console, progress_display
from pipeline.context import Progress as ProgressFn
from pipeline.context import StageSummary, no_progress
from pipeline.errors import ConfigError
from pipeline.ingest.landing import folder_file, is_candidate, not_taken_reason
from pipeline.io.keys import SEGMENT_SUFFIX
from pipeline.io.names import printable
from pipeline.io.storage import LocalStorage, ObjectInfo
from pipeline.io.tables import read_partition, validate_partition
from pipeline.stages import (
    PUBLISH_STAGES,
    STAGE_NAMES,
    PipelineConfig,
    StageContext,
    load_pipeline_config,
    run_stages,
)
from pipeline.tokens.runners import validate_checkpoint

log = logging.getLogger(__name__)


@dataclass
class FolderRun:
    """What one ``laps segment`` run did."""

    date: str
    station: str
    videos: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    skipped_known: list[str] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)  # videos failed after ingest
    not_taken: list[dict[str, str]] = field(default_factory=list)  # hidden, other extensions
    summary: dict[str, Any] = field(default_factory=dict)
    tokenizer: str = ""
    published: dict[str, Any] = field(default_factory=dict)  # the publish stage's summary
    published_keys: dict[str, str] = field(default_factory=dict)
    library: dict[str, Any] = field(default_factory=dict)  # the library stage's summary
    clusters: dict[str, Any] = field(default_factory=dict)  # the clusters stage's summary
    labels: dict[str, Any] = field(default_factory=dict)  # the labels stage's summary


def input_files(input_dir: Path, *, recursive: bool, exclude: Path | None) -> list[Path]:
    """Video files of the input folder, sorted (see module doc): the rule of Dagster's landing
    discovery (``is_candidate``), so a link out of the folder is listed (to be quarantined,
    never read) and linked folders are not descended."""
    return _scan(input_dir, recursive=recursive, exclude=exclude)[0]


def _scan(
    input_dir: Path, *, recursive: bool, exclude: Path | None
) -> tuple[list[Path], list[dict[str, str]]]:
    """``input_files`` and the files left out with the reason (hidden, not_a_video)."""
    store = LocalStorage(input_dir)
    out, left_out = [], []
    for p in sorted(input_dir.glob("**/*" if recursive else "*")):
        key = p.relative_to(input_dir).as_posix()
        info = store.info(key)
        if info is None:
            continue
        if not is_candidate(info):
            if exclude is None or exclude not in Path(store.root, key).parents:
                left_out.append({"file": printable(key), "reason": not_taken_reason(info) or "-"})
            continue
        if exclude is not None and exclude in Path(store.root, key).parents:
            continue
        out.append(p)
    return out, left_out


def default_station(input_dir: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", input_dir.resolve().name).strip("-._")
    return name[:64] or "station"


def default_date(files: list[ObjectInfo]) -> str:
    from datetime import datetime

    if not files:
        return datetime.now(UTC).strftime("%Y-%m-%d")
    return min(i.mtime for i in files).astimezone(UTC).strftime("%Y-%m-%d")


def _infos(input_dir: Path, files: list[Path]) -> list[ObjectInfo]:
    """Size and mtime of each input file (a link out of the folder: the link's own)."""
    store = LocalStorage(input_dir)
    infos = (store.info(p.relative_to(input_dir).as_posix()) for p in files)
    return [i for i in infos if i is not None]  # (None: vanished since the listing)


def run_folder(
    input_dir: Path,
    output_dir: Path,
    *,
    config: PipelineConfig | None = None,
    checkpoint: Path | None = None,
    station: str | None = None,
    date: str | None = None,
    recursive: bool = False,
    publish: bool = True,
    step: ProgressFn = no_progress,
) -> FolderRun:
    """The whole pipeline on one folder (module doc), through ``pipeline.stages``; raises
    ``LapsError`` (``ConfigError`` for unusable options)."""
    check_folders(input_dir, output_dir)
    if checkpoint is not None:
        validate_checkpoint(checkpoint)  # a bad file is refused before tracking starts
    listed, left_out = _scan(input_dir, recursive=recursive, exclude=output_dir.resolve())
    files = _infos(input_dir, listed)
    run = FolderRun(date or default_date(files), station or default_station(input_dir))
    run.not_taken = left_out
    check_partition_options(run.date, run.station)
    ctx = StageContext(
        store=LocalStorage(output_dir),
        date=run.date,
        station=run.station,
        config=config or PipelineConfig(),
        landing=LocalStorage(input_dir),
        files=[folder_file(i, run.station, run.date) for i in files],
        checkpoint=checkpoint,
        progress=step,
    )

    def nothing_to_track(name: str, summary: StageSummary) -> bool:
        if name == "segments" and not summary.extra["calibrated"]:
            return True  # idle/active labels mean nothing: publish nothing (reported, exit 1)
        return name == "chunks" and not summary.rows.get("chunks")

    names = [n for n in STAGE_NAMES if publish or n not in PUBLISH_STAGES]
    done = run_stages(ctx, names, stop_after=nothing_to_track)
    ingest = done["ingest"].output
    run.videos, run.quarantine, run.skipped_known = (
        ingest.videos, ingest.quarantine, ingest.skipped_known
    )  # fmt: skip
    failures = read_partition(ctx.store, "failures", run.date, run.station)
    run.failures = failures.to_pylist() if failures is not None else []
    if "segments" not in done:
        return run
    run.tokenizer = done["tokenizer"].extra["tokenizer_version"]
    seg = done["segments"]
    run.summary = {"rows": seg.rows, **seg.extra}
    copies = {f"{stem}{SEGMENT_SUFFIX}" for stem in seg.extra["segment_files"]}
    for stem, key in seg.extra["segment_files"].items():
        ctx.store.write_bytes(f"{stem}{SEGMENT_SUFFIX}", ctx.store.read_bytes(key))
    for info in ctx.store.list("", suffixes=(SEGMENT_SUFFIX,)):  # copies of an earlier run
        if "/" not in info.key and info.key not in copies:
            ctx.store.delete(info.key)
    run.labels = done["labels"].extra if "labels" in done else {}
    run.library = done["library"].extra if "library" in done else {}
    run.clusters = done["clusters"].extra if "clusters" in done else {}
    if "publish" in done:
        run.published = {"rows": done["publish"].rows, **done["publish"].extra}
        run.published_keys = dict(done["publish"].keys)
        if "card" in done:
            run.published_keys.update(done["card"].keys)
    return run


def check_partition_options(date: str | None, station: str | None) -> None:
    """Refuse a ``--date`` that is not a calendar date or a ``--station`` that cannot name a
    partition folder, naming the option (None: the default, derived later, is valid)."""
    for option, value, probe in (
        ("--date", date, lambda v: validate_partition(v, "station")),
        ("--station", station, lambda v: validate_partition("2000-01-01", v)),
    ):
        if value is None:
            continue
        try:
            probe(value)
        except ValueError as exc:
            raise ConfigError(f"{option} {value!r} {str(exc).split(' ', 2)[-1]}") from exc


def check_folders(input_dir: Path, output_dir: Path) -> None:
    """Refuse, before any work, an output that is the input folder or a file (or below one),
    and S3 locations (this command works on local folders)."""
    for option, given in (("--input", input_dir), ("--output", output_dir)):
        if str(given).startswith("s3:"):  # Path("s3://b/x") reads "s3:/b/x"
            uri = "s3://" + str(given)[3:].lstrip("/")
            raise ConfigError(
                f"{option} {uri}: laps segment reads and writes local folders; for an S3 "
                "landing or store run the Dagster assets (LAPS_LANDING_URI, LAPS_STORE_URI)"
            )
    inp, out = input_dir.resolve(), output_dir.resolve()
    if out == inp:
        raise ConfigError(
            f"--output {output_dir} is the input folder: choose another folder for the store"
        )
    for folder in (out, *out.parents):
        if folder.exists() and not folder.is_dir():
            raise ConfigError(f"--output {output_dir}: {folder} is a file, not a folder")


def load_config(
    config_path: Path | None,
    *,
    method: str | None = None,
    no_clips: bool = False,
    epochs: int | None = None,
    max_train_seconds: float | None = None,
) -> PipelineConfig:
    """The run's ``PipelineConfig``: the ``--config`` file, then the options on top."""
    raw: dict[str, Any] = {}
    if config_path is not None:
        try:
            raw = json.loads(config_path.read_text())
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--config {config_path}: {exc}") from exc
        if not isinstance(raw, dict):
            raise ConfigError(f"--config {config_path}: expected a JSON object")
    try:
        cfg = load_pipeline_config(raw)
    except ConfigError as exc:
        if config_path is None:
            raise
        raise ConfigError(f"--config {config_path}: {exc}") from exc
    seg: dict[str, Any] = {"method": method} if method else {}
    tok: dict[str, Any] = {}
    if epochs:
        tok["max_epochs"] = epochs
    if max_train_seconds:
        tok["max_train_seconds"] = max_train_seconds
    if not (seg or tok or no_clips):
        return cfg
    merged = cfg.model_dump()
    merged["segmentation"].update(seg)
    merged["tokenizer"].update(tok)
    if no_clips:
        merged["write_clips"] = False
    return load_pipeline_config(merged)


@click.command("segment")
@click.option(
    "--input",
    "input_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="folder of videos (any names)",
)
@click.option(
    "--output",
    "output_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="store root to write",
)
@click.option(
    "--checkpoint",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="tokenizer checkpoint to use (default: train one on every track file of --output, "
    "or reuse the one trained there before)",
)
@click.option("--station", default=None, help="station name (default: the input folder's)")
@click.option("--date", default=None, help="YYYY-MM-DD (default: oldest input file's mtime)")
@click.option("--no-clips", is_flag=True, help="do not cut clips (and so publish no samples)")
@click.option(
    "--no-shards",
    is_flag=True,
    help="skip the publish stage: no shards, dataset, JSONL or card (segments, clips, labels "
    "and clusters are still written)",
)
@click.option(
    "--method",
    type=click.Choice(["combined", "hysteresis", "changepoint"]),
    default=None,
    help="segmenter (default: the config's, changepoint)",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PipelineConfig as JSON (sections video, windows, tracking, tokenizer, segmentation, "
    "language, discovery, publish, write_clips; or SegmentationConfig fields alone)",
)
@click.option("--recursive", is_flag=True, help="also take videos in subfolders")
@click.option("--epochs", type=click.IntRange(1), default=None, help="tokenizer max_epochs")
@click.option(
    "--max-train-seconds",
    type=click.FloatRange(min=1),
    default=None,
    help="tokenizer training time budget",
)
def segment(
    input_dir: Path, output_dir: Path, checkpoint: Path | None, station: str | None,
    date: str | None, no_clips: bool, no_shards: bool, method: str | None,
    config_path: Path | None,
    recursive: bool, epochs: int | None, max_train_seconds: float | None,
) -> None:  # fmt: skip
    """Segment a folder of videos into action primitives and publish them (the whole
    pipeline on one date/station partition, no Dagster). Progress and warnings go to stderr
    (timestamped lines when it is not a terminal), the summary to stdout. Exit code 0 when a
    video was segmented, 1 when none was (or calibration failed), 2 for unusable options."""
    cfg = load_config(
        config_path, method=method, no_clips=no_clips, epochs=epochs,
        max_train_seconds=max_train_seconds,
    )  # fmt: skip
    check_folders(input_dir, output_dir)  # before the progress display starts
    check_partition_options(date, station)
    if checkpoint is not None:
        validate_checkpoint(checkpoint)
    with progress_display() as step:  # stderr: bars on a terminal, timestamped lines otherwise
        run = run_folder(
            input_dir, output_dir, config=cfg, checkpoint=checkpoint, station=station,
            date=date, recursive=recursive, publish=not no_shards, step=step,
        )  # fmt: skip
    _report(run, output_dir)
    ok = bool(run.summary.get("segment_files")) and run.summary.get("calibrated", False)
    sys.exit(0 if ok else 1)


def _report_discovery(run: FolderRun) -> None:
    lab = run.labels
    if lab:
        if lab["enabled"]:
            counts = ", ".join(f"{n} {k}" for k, n in lab["status"].items()) or "no segments"
            errors = ", ".join(f"{k or 'unknown'} {n}" for k, n in lab["errors"].items())
            console.print(
                f"labels ({escape(str(lab['model']))}): {escape(counts)}; "
                f"{_plural(lab['requests'], 'request')}"
                + (f"; errors: {escape(errors)}" if errors else "")
            )
        else:
            console.print("[dim]labels: off (no language.base_url; docs/language.md)[/]")
    lib, cl = run.library, run.clusters
    if not lib:
        return
    if not lib.get("library_version"):
        console.print(f"[yellow]primitive library:[/] {escape(lib['decision'])}")
        return
    counts = cl.get("counts") or {}
    shown = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    console.print(
        f"primitive library {lib['library_version']} ({lib['decision']}): k={lib['k']}, "
        f"{lib['embedding']}; this partition: {cl.get('assigned', 0)} segments assigned"
        + (f" ({escape(shown)})" if shown else "")
    )


def _plural(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def clips_text(clips: dict[str, int]) -> str:
    """``17 clips written, 2 kept from an earlier run, 1 failed`` (zero counts left out);
    ``clips off`` when the run cut none."""
    if not clips:
        return "clips off"
    parts = [_plural(clips.get("written", 0), "clip") + " written"]
    if clips.get("kept"):
        parts.append(f"{clips['kept']} kept from an earlier run")
    if clips.get("failed"):
        parts.append(f"{clips['failed']} failed")
    return ", ".join(parts)


def summary_line(summary: dict[str, Any]) -> str:
    """The segments stage in one sentence: segments, videos, windows, clips, the segmenter
    and the station's activity threshold."""
    rows = summary["rows"]
    return (
        f"{_plural(rows['segments'], 'segment')} in "
        f"{_plural(summary.get('segmented_videos', len(summary['segment_files'])), 'video')} "
        f"({_plural(rows['energy'], 'window')}); {clips_text(summary['clips'])}; "
        f"segmenter {summary['segmenter']}; activity threshold {summary['thr_on']:.4g}"
    )


def _report(run: FolderRun, output_dir: Path) -> None:
    for q in run.quarantine:
        console.print(
            f"[yellow]quarantined[/] {escape(q['file_name'])}: {q['reason']} {escape(q['detail'])}"
        )
    if run.not_taken:
        shown = ", ".join(f"{x['file']} ({x['reason']})" for x in run.not_taken[:5])
        more = f" and {len(run.not_taken) - 5} more" if len(run.not_taken) > 5 else ""
        console.print(f"[dim]not taken:[/] {escape(shown)}{more}")
    for uri in run.skipped_known:
        console.print(f"[yellow]skipped[/] {escape(uri)}: already ingested in another partition")
    for f in run.failures:
        what = f" ({escape(f['item'])})" if f["item"] else ""
        console.print(
            f"[yellow]failed[/] {escape(f['file_name'])} at {f['stage']}{what}: {f['reason']} "
            f"{escape(f['detail'])}"
        )
    if not run.summary:
        console.print("[red]no video could be segmented[/]")
        return
    if not run.summary["calibrated"]:
        console.print(
            f"[red]calibration failed[/] ({run.summary['calibration'].get('error')}): the "
            "segments' idle/active labels are not meaningful; nothing was published"
        )
    files = run.summary["segment_files"]
    table = Table("video", "file", title=f"{run.date} / {run.station}, tokenizer {run.tokenizer}")
    for stem in sorted(files):
        table.add_row(escape(stem), escape(f"{stem}.segments.json"))
    console.print(table)
    console.print(escape(summary_line(run.summary)), soft_wrap=True)
    console.print(f"store: {escape(str(output_dir.resolve()))}", soft_wrap=True)
    _report_discovery(run)
    if run.published:
        p, root = run.published, output_dir.resolve()
        console.print(
            f"published {p['samples']} samples in {p['rows']['shards']} shards "
            f"({p['bytes'] / 1e6:.1f} MB, {len(p['skipped'])} segments skipped), "
            f"{p['rows']['steps']} latent-action steps"
        )
        for what, key in sorted(run.published_keys.items()):
            console.print(f"  {what:<14} {root / key}")
