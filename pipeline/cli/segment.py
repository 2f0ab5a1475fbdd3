"""`laps segment`: the whole pipeline on a folder of videos, outside Dagster.

Runs the same stage functions as the assets, in order, on one (date, station) partition of the
store rooted at ``--output``: ingest (probe, quarantine bad files) -> chunks -> tracks ->
tokenizer (``--checkpoint`` installed as current, or trained/reused on the station's tracks) ->
codes -> segments (``pipeline.segments.stage.segment_partition``).

Input: the video files (``.mp4 .mov .mkv .avi .webm .m4v``) directly in ``--input``; with
``--recursive`` also those in its subfolders (files under ``--output`` excluded). File names are
free; hidden files (``.name``) are ignored. The partition is ``--date`` (default: the UTC date of
the oldest input file's modification time, so a rerun on the same files hits the same partition)
and ``--station`` (default: the input folder's name). Output: the store (tables/, tracks/,
models/, segments/, clips/) plus ``<stem>.segments.json`` of every video at the top of
``--output``. Reruns replace the partition's outputs (same files -> same rows). A video already
ingested in ANOTHER partition of the same store is skipped (reported). Exit code 0 when at least
one video was segmented, 1 when none, 2 for unusable options (bad checkpoint, date, station).
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from pipeline.config import VideoConfig, WindowConfig
from pipeline.ingest.landing import VIDEO_SUFFIXES, LandedFile
from pipeline.ingest.stage import ingest_partition
from pipeline.io.storage import LocalStorage, Storage
from pipeline.io.tables import validate_partition
from pipeline.segments.config import SegmentationConfig

log = logging.getLogger(__name__)
console = Console()

Step = Callable[[str, int, int], None]  # (stage, done, total)


class SegmentOptionsError(click.UsageError):
    """Options that cannot run (exit code 2)."""


@dataclass
class FolderRun:
    """What one ``laps segment`` run did."""

    date: str
    station: str
    videos: list[dict[str, Any]] = field(default_factory=list)
    quarantine: list[dict[str, Any]] = field(default_factory=list)
    skipped_known: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    tokenizer: str = ""


def input_files(input_dir: Path, *, recursive: bool, exclude: Path | None) -> list[Path]:
    """Video files of the input folder, sorted (see module doc)."""
    pattern = "**/*" if recursive else "*"
    out = []
    for p in sorted(input_dir.glob(pattern)):
        rel = p.relative_to(input_dir)
        if not p.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        if p.suffix.lower() not in VIDEO_SUFFIXES:
            continue
        if exclude is not None and exclude in p.resolve().parents:
            continue
        out.append(p)
    return out


def default_station(input_dir: Path) -> str:
    name = re.sub(r"[^A-Za-z0-9_.-]+", "-", input_dir.resolve().name).strip("-._")
    return name[:64] or "station"


def default_date(files: list[Path]) -> str:
    from datetime import datetime

    if not files:
        return datetime.now(UTC).strftime("%Y-%m-%d")
    oldest = min(p.stat().st_mtime for p in files)
    return datetime.fromtimestamp(oldest, tz=UTC).strftime("%Y-%m-%d")


def _landed(input_dir: Path, files: list[Path], date: str, station: str) -> list[LandedFile]:
    from datetime import datetime

    out = []
    for p in files:
        st = p.stat()
        key = p.relative_to(input_dir).as_posix()
        mtime = datetime.fromtimestamp(st.st_mtime, tz=UTC)
        out.append(LandedFile(key=key, station=station, date=date, size=st.st_size, mtime=mtime))
    return out


def ingest_folder(
    input_dir: Path, store: Storage, files: list[Path], date: str, station: str, step: Step
) -> tuple[list[dict], list[dict], list[str]]:
    """``ingest_partition`` for files given by the caller (a flat folder has no station
    folders): same probing, quarantine, known-video check and tables."""
    landed = _landed(input_dir, files, date, station)
    done = iter(range(1, len(landed) + 1))
    result, _ = ingest_partition(
        LocalStorage(input_dir),
        store,
        date,
        station,
        video=VideoConfig(),
        windows=WindowConfig(),
        files=landed,
        on_file=lambda _f: step("probing", next(done), len(landed)),
    )
    return result.videos, result.quarantine, result.skipped_known


def run_folder(
    input_dir: Path,
    output_dir: Path,
    *,
    cfg: SegmentationConfig,
    checkpoint: Path | None = None,
    station: str | None = None,
    date: str | None = None,
    clips: bool = True,
    recursive: bool = False,
    epochs: int | None = None,
    max_train_seconds: float | None = None,
    step: Step = lambda _s, _d, _t: None,
) -> FolderRun:
    """The whole pipeline on one folder (module doc); raises ``SegmentOptionsError``."""
    from models.checkpoint import CheckpointError
    from pipeline.ingest.stage import chunk_partition
    from pipeline.segments.stage import segment_partition
    from pipeline.tokens.stage import (
        codes_partition,
        install_checkpoint,
        load_runner,
        tokenizer_config_for,
        train_or_reuse,
    )
    from pipeline.tracks.stage import track_partition
    from pipeline.tracks.tracking import TrackingConfig

    files = input_files(input_dir, recursive=recursive, exclude=output_dir.resolve())
    run = FolderRun(date or default_date(files), station or default_station(input_dir))
    try:
        validate_partition(run.date, run.station)
    except ValueError as exc:
        raise SegmentOptionsError(str(exc)) from exc
    store = LocalStorage(output_dir)
    video, windows = VideoConfig(), WindowConfig()
    run.videos, run.quarantine, run.skipped_known = ingest_folder(
        input_dir, store, files, run.date, run.station, step
    )
    chunk_partition(store, run.date, run.station, video=video, windows=windows)
    if not run.videos:
        return run
    track_partition(
        store, run.date, run.station, video=video, windows=windows, tracking=TrackingConfig(),
        on_chunk=lambda d, t: step("tracking", d, t),
    )  # fmt: skip
    step("tokenizer", 0, 1)
    if checkpoint is not None:
        try:
            info = install_checkpoint(store, checkpoint)
        except (CheckpointError, OSError, RuntimeError) as exc:
            raise SegmentOptionsError(f"checkpoint {checkpoint}: {exc}") from exc
    else:
        overrides = {"max_epochs": epochs} if epochs else {}
        cfg_tok = tokenizer_config_for(windows, **overrides)
        info = train_or_reuse(store, cfg_tok, station=run.station, max_time_s=max_train_seconds)
    runner = load_runner(store)
    tok = runner.config
    if (tok.window_frames, tok.grid_size) != (windows.window_frames, windows.grid_size):
        raise SegmentOptionsError(
            f"checkpoint windows T={tok.window_frames}, grid={tok.grid_size} do not match the "
            f"tracking windows T={windows.window_frames}, grid={windows.grid_size}"
        )
    run.tokenizer = info.version
    step("tokenizer", 1, 1)
    step("codes", 0, 1)
    codes_partition(store, run.date, run.station, runner)
    step("codes", 1, 1)
    summary = segment_partition(
        store, run.date, run.station, cfg, write_clips=clips,
        on_video=lambda d, t, _name: step("segmenting", d, t),
    )  # fmt: skip
    run.summary = {"rows": summary.rows, **summary.extra}
    for stem, key in summary.extra["segment_files"].items():
        store.write_bytes(f"{stem}.segments.json", store.read_bytes(key))
    return run


def _config(config_path: Path | None, method: str | None) -> SegmentationConfig:
    raw: dict[str, Any] = {}
    if config_path is not None:
        raw = json.loads(config_path.read_text())
    if method:
        raw["method"] = method
    return SegmentationConfig.model_validate(raw)


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
    help="tokenizer checkpoint to use (default: train one on the input)",
)
@click.option("--station", default=None, help="station name (default: the input folder's)")
@click.option("--date", default=None, help="YYYY-MM-DD (default: oldest input file's mtime)")
@click.option("--no-clips", is_flag=True, help="do not cut clips")
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
    help="SegmentationConfig fields as JSON",
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
    date: str | None, no_clips: bool, method: str | None, config_path: Path | None,
    recursive: bool, epochs: int | None, max_train_seconds: float | None,
) -> None:  # fmt: skip
    """Segment a folder of videos into action primitives (whole pipeline, no Dagster)."""
    cfg = _config(config_path, method)
    with Progress(
        TextColumn("[bold]{task.description:<11}"), BarColumn(),
        TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), console=console,
    ) as progress:  # fmt: skip
        tasks: dict[str, Any] = {}

        def step(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=max(total, 1))
            progress.update(tasks[stage], completed=done, total=max(total, 1))

        run = run_folder(
            input_dir, output_dir, cfg=cfg, checkpoint=checkpoint, station=station, date=date,
            clips=not no_clips, recursive=recursive, epochs=epochs,
            max_train_seconds=max_train_seconds, step=step,
        )  # fmt: skip
    _report(run, output_dir)
    sys.exit(0 if run.summary.get("segment_files") else 1)


def _report(run: FolderRun, output_dir: Path) -> None:
    for q in run.quarantine:
        console.print(f"[yellow]quarantined[/] {q['file_name']}: {q['reason']} {q['detail']}")
    for uri in run.skipped_known:
        console.print(f"[yellow]skipped[/] {uri}: already ingested in another partition")
    if not run.summary:
        console.print("[red]no video could be segmented[/]")
        return
    files = run.summary["segment_files"]
    table = Table("video", "file", title=f"{run.date} / {run.station}, tokenizer {run.tokenizer}")
    for stem in sorted(files):
        table.add_row(stem, f"{stem}.segments.json")
    console.print(table)
    console.print(
        f"{run.summary['rows']['segments']} segments, {run.summary['rows']['energy']} windows; "
        f"thr_on={run.summary['thr_on']:.4g}; clips: {run.summary['clips'] or 'off'}; "
        f"segmenter {run.summary['segmenter']}; store: {output_dir.resolve()}"
    )
