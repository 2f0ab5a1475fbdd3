"""The `laps` command line. Each command calls the same core functions as the Dagster assets."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import click
from rich.table import Table

from pipeline.cli.console import console, install_log_handler, progress_display, status


def reachable_store(settings):
    """The ``$LAPS_STORE_URI`` store, checked before any work: an S3 store that cannot be
    reached is one line in a few seconds (``LAPS_S3_PROBE_TIMEOUT``), not after every retry."""
    from pipeline.io.storage.s3 import check_reachable

    store = settings.store()
    check_reachable(store, "LAPS_STORE_URI")
    return store


class LapsGroup(click.Group):
    """Turns every ``LapsError`` into one clear line on stderr and exit code 2, and loads the
    commands of ``lazy_commands`` (name -> ``module:attribute``) when they are asked for."""

    lazy_commands: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in self.lazy_commands:
            import importlib

            module, attr = self.lazy_commands[cmd_name].split(":")
            self.add_command(getattr(importlib.import_module(module), attr), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context):
        from pipeline.errors import LapsError

        try:
            return super().invoke(ctx)
        except LapsError as exc:
            if ctx.params.get("verbose"):  # -v: the traceback too, for a bug report
                import traceback

                traceback.print_exc()
            click.echo(f"error: {exc}", err=True)
            sys.exit(2)


@click.group(cls=LapsGroup)
@click.option("-v", "--verbose", count=True, help="-v info, -vv debug logging")
@click.pass_context
def main(ctx: click.Context, verbose: int) -> None:
    """laps: workstation video -> latent-action primitive segments, clips and codes ->
    training data (WebDataset shards, a Parquet dataset, JSONL, a dataset card, LeRobot).

    Results print on stdout; progress, log lines and warnings on stderr (plain timestamped
    lines when stderr is not a terminal)."""
    level = logging.WARNING - 10 * min(verbose, 2)
    ctx.call_on_close(install_log_handler(level))


@main.command()
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--videos", default=4, show_default=True, type=click.IntRange(1))
@click.option("--seconds", default=60.0, show_default=True, type=click.FloatRange(min=2.0))
@click.option("--seed", default=0, show_default=True, type=int)
@click.option(
    "--preset",
    default="test",
    show_default=True,
    type=click.Choice(
        [
            "test",
            "bench",
            "cyclic",
            "cyclic-test",
            "twohand",
            "twohand-test",
            "bench-cam",
            "bench-cam-test",
        ]
    ),
    help="test/bench: assembly cycles (320x240 / 640x480); cyclic(-test): long repeated-motion"
    " activities (wipe, polish, hammer, screw) and transfers; twohand(-test): both hands"
    " assembling at once; bench-cam(-test): bench seen by a seeded tilted/zoomed/rolled camera;"
    " cyclic, twohand and bench-cam are dev data only",
)
@click.option("--prefix", default="station", show_default=True, help="file name prefix")
def synth(out_dir: Path, videos: int, seconds: float, seed: int, preset: str, prefix: str) -> None:
    """Render sample workstation videos with <stem>.segments.json ground truth."""
    from pipeline.synth import PRESETS, synthesize

    fps = PRESETS[preset].fps
    total = int(round(videos * seconds * fps))
    rendered = 0
    with progress_display() as step:
        step("rendering", 0, total)

        def on_frames(n: int) -> None:
            nonlocal rendered
            rendered += n
            step("rendering", rendered, total)

        paths = synthesize(
            out_dir,
            videos=videos,
            seconds=seconds,
            seed=seed,
            preset=preset,
            stem_prefix=prefix,
            progress=on_frames,
        )
    for p in paths:
        console.print(f"wrote {p} and {p.with_suffix('').name}.segments.json")


BENCH_TARGETS = {
    "pipeline_realtime_factor": ">= 10",
    "workers_speedup": ">= 1.8 (2 workers)",
    "end_to_end_realtime_factor": ">= 10",
    "ratio_to_decode": ">= 0.5",
    "long_over_short_rss": "<= 1.10",
}


@main.command()
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="write the figures as JSON here",
)
@click.option("--seconds", default=60.0, show_default=True, type=click.FloatRange(min=10))
@click.option("--long-factor", default=6, show_default=True, type=click.IntRange(2))
@click.option(
    "--checkpoint",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="tokenizer checkpoint (default: an untrained default-config one; same speed)",
)
@click.option(
    "--workdir",
    default="data/bench",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option(
    "--benchmarks-md",
    default="BENCHMARKS.md",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="append a row here",
)
@click.option(
    "--repeats",
    default=3,
    show_default=True,
    type=click.IntRange(1),
    help="runs per speed figure; the best (least disturbed) one is kept",
)
@click.option("--no-append", is_flag=True, help="do not touch BENCHMARKS.md")
@click.option(
    "--stage",
    type=click.Choice(["codes", "publish"]),
    default="codes",
    show_default=True,
    help="codes: ingest to codes (decode, tracks, tokenizer); publish: the publish stage",
)
@click.option(
    "--device",
    type=click.Choice(["auto", "cpu", "cuda"]),
    default="cpu",
    show_default=True,
    help="where the tokenizer measurement runs (auto: CUDA when present)",
)
@click.option(
    "--e2e",
    is_flag=True,
    help="also the whole pipeline stage by stage (ingest to publish, clips on; one core)",
)
@click.option(
    "--workers",
    default=1,
    show_default=True,
    type=click.IntRange(1, 64),
    help="with --e2e: also time N videos with workers=1 and workers=N (workers_speedup)",
)
@click.option(
    "--clip-short-side",
    default=None,
    type=click.IntRange(0),
    help="with --e2e: clip short side, px (0 = full size; default: ClipConfig's)",
)
@click.option("--clip-preset", default=None, help="with --e2e: x264 preset of the clips")
@click.option(
    "--clip-threads", default=None, type=click.IntRange(0), help="with --e2e: x264 threads"
)
@click.option(
    "--skip-codes",
    is_flag=True,
    help="with --e2e: only the end-to-end figures (not the ingest-to-codes ones)",
)
def bench(
    json_path: Path | None,
    seconds: float,
    long_factor: int,
    checkpoint: Path | None,
    workdir: Path,
    benchmarks_md: Path,
    repeats: int,
    no_append: bool,
    stage: str,
    device: str,
    e2e: bool,
    workers: int,
    clip_short_side: int | None,
    clip_preset: str | None,
    clip_threads: int | None,
    skip_codes: bool,
) -> None:
    """Speed and memory on one CPU core (bench preset video; --device cuda: the tokenizer on
    the GPU): ingest -> codes, or publish."""
    import json

    from pipeline.evaluation.bench import run_bench
    from pipeline.evaluation.bench_e2e import run_e2e_bench
    from pipeline.evaluation.bench_publish import run_publish_bench
    from pipeline.evaluation.benchmarks import append_bench_row, append_e2e_row, append_publish_row
    from pipeline.segments.clips import ClipConfig

    clips = {k: v for k, v in (("short_side", clip_short_side), ("preset", clip_preset),
                               ("threads", clip_threads)) if v is not None}  # fmt: skip
    try:
        ClipConfig(**clips)  # a bad value is refused before any work
    except ValueError as exc:
        from pipeline.errors import ConfigError
        from pipeline.stages import describe_invalid

        raise ConfigError(f"clip settings: {describe_invalid(exc)}") from exc
    e2e_figures = None
    with status("benchmarking") as line:
        if e2e:
            e2e_figures = run_e2e_bench(
                workdir.resolve(), seconds=seconds, long_factor=long_factor,
                checkpoint=checkpoint, repeats=repeats, workers=workers, clips=clips,
                on_step=line.update,
            )  # fmt: skip
        if e2e and skip_codes:
            figures = {}
        elif stage == "publish":
            figures = run_publish_bench(
                workdir.resolve(), seconds=seconds, long_factor=long_factor, repeats=repeats,
                on_step=line.update,
            )  # fmt: skip
        else:
            figures = run_bench(
                workdir.resolve(),
                seconds=seconds,
                long_factor=long_factor,
                checkpoint=checkpoint,
                repeats=repeats,
                device=device,
                on_step=line.update,
            )
    if e2e_figures is not None:
        figures.update(e2e_figures)
    table = Table("figure", "value", "target")
    for k, v in figures.items():
        target = BENCH_TARGETS.get(k)
        table.add_row(k, str(v), target or "")
    console.print(table)
    if json_path:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(figures, indent=2) + "\n")
    if not no_append:
        command = "laps bench " + " ".join(sys.argv[2:])
        append = append_publish_row if stage == "publish" else append_bench_row
        if not (e2e and skip_codes):
            append(benchmarks_md, figures, command=command.strip())
        if e2e_figures is not None:
            append_e2e_row(benchmarks_md, figures, command=command.strip())
        console.print(f"appended a row to {benchmarks_md}")


@main.command("train-tokenizer")
@click.option("--station", default=None, help="train on one station's tracks only")
@click.option("--epochs", default=None, type=click.IntRange(1), help="override max_epochs")
@click.option("--max-seconds", default=None, type=click.FloatRange(min=1), help="time budget")
@click.option("--force", is_flag=True, help="train even if the current checkpoint is up to date")
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PipelineConfig as JSON (its windows and tokenizer sections are used)",
)
def train_tokenizer(
    station: str | None,
    epochs: int | None,
    max_seconds: float | None,
    force: bool,
    config_path: Path | None,
) -> None:
    """Train (or reuse) the motion tokenizer on every stored track window ($LAPS_STORE_URI)."""
    from pipeline.cli.segment import load_config
    from pipeline.io.settings import LapsSettings
    from pipeline.tokens.stage import train_or_reuse

    settings = LapsSettings.from_env()
    cfg = load_config(config_path, epochs=epochs, max_train_seconds=max_seconds)
    info = train_or_reuse(
        reachable_store(settings),
        cfg.tokenizer_config(),
        station=station,
        force=force,
        progress=True,
        max_time_s=cfg.tokenizer.max_train_seconds,
        device=cfg.tokenizer.device,
        retrain=cfg.tokenizer.retrain,
        on_epoch=lambda r: console.print(
            f"epoch {int(r['epoch']) + 1}/{int(r['max_epochs'])}  step "
            f"{int(r['steps'])}/{int(r['max_steps'])}  train loss {r['train_loss']:.4f}  "
            f"val loss {r['val_loss']:.4f}"
        ),
    )
    console.print(f"tokenizer {info.version}: {info.decision} ({info.num_videos} videos)")
    if info.history:
        last = info.history[-1]
        console.print(f"final train loss {last['train_loss']:.4f}, val loss {last['val_loss']:.4f}")
    console.print(f"checkpoint: {settings.store().uri(info.checkpoint_key)}")


@main.group()
def export() -> None:
    """Export the published segments in other training-data formats."""


@export.command("lerobot")
@click.option(
    "--out",
    "out_dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="export folder (default: <store>/publish/lerobot; <data root>/lerobot for S3 stores)",
)
@click.option(
    "--partition",
    "partitions",
    multiple=True,
    metavar="DATE/STATION",
    help="only these partitions (repeatable; default: every partition)",
)
@click.option("--size", default=None, metavar="WxH", help="even frame size (default: first clip's)")
@click.option("--task", default=None, help="task text of every episode (default: 'assembly work')")
def export_lerobot_cmd(
    out_dir: Path | None, partitions: tuple[str, ...], size: str | None, task: str | None
) -> None:
    """A LeRobot v3.0 dataset of the store's segments ($LAPS_STORE_URI): one episode per
    segment, one frame per 0.1 s latent-action step, action.latent = the step's code."""
    from pipeline.errors import ConfigError
    from pipeline.io.settings import LapsSettings
    from pipeline.publish.lerobot import DEFAULT_TASK, default_out_dir, export_lerobot

    settings = LapsSettings.from_env()
    store = reachable_store(settings)
    parts = []
    for p in partitions:
        date, sep, station = p.partition("/")
        if not sep:
            raise ConfigError(f"--partition {p!r}: expected DATE/STATION")
        parts.append((date, station))
    wh = None
    if size:
        try:
            w, h = (int(v) for v in size.lower().split("x"))
        except ValueError as exc:
            raise ConfigError(f"--size {size!r}: expected WxH, e.g. 320x240") from exc
        wh = (w, h)
    with status("exporting to LeRobot v3"):
        s = export_lerobot(
            store,
            out_dir or default_out_dir(store, settings.data_root),
            partitions=parts or None,
            size=wh,
            task=task or DEFAULT_TASK,
        )
    console.print(
        f"wrote {s['out']}: {s['episodes']} episodes, {s['frames']} frames at {s['fps']} fps "
        f"in {s['files']} files ({s['seconds']:.1f} s); skipped {s['skipped']}",
        soft_wrap=True,
    )


# Commands kept in their own modules (each is a few hundred lines), imported only when run
# (or listed by --help): ``laps query`` does not load torch, and a worker process that imports
# this module as its parent's ``__main__`` (pipeline.workers) starts in a fraction of a second.
main.lazy_commands = {
    "query": "pipeline.cli.query:query",
    "segment": "pipeline.cli.segment:segment",
    "eval": "pipeline.cli.evaluate:eval_",
    "eval-tokenizer": "pipeline.cli.eval_tokenizer:eval_tokenizer",
    "eval-clusters": "pipeline.cli.eval_clusters:eval_clusters",
}


if __name__ == "__main__":
    main()
