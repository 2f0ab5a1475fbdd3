"""`make demo`: sample videos -> the landing sensor -> partition runs -> a summary.

Runs against the embedded defaults: local ``$LAPS_DATA_ROOT`` (./data), the sqlite Dagster
instance in ``$DAGSTER_HOME`` (so `make ui` shows these runs), the DuckDB catalog.
"""

import argparse
import logging
import sys
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg

from assets.automation import landing_sensor
from assets.definitions import STAGE_ASSETS, STORE_JOBS, defs
from assets.partitions import split_key
from assets.resources import LapsStorage
from pipeline.cli.console import Console, make_console, table
from pipeline.errors import LapsError
from pipeline.evaluation.harness import evaluate_dirs
from pipeline.ingest.landing import discover
from pipeline.io import catalog, keys
from pipeline.io.settings import LapsSettings
from pipeline.io.storage.s3 import check_reachable
from pipeline.stages import STAGES
from pipeline.synth import synthesize

log = logging.getLogger("laps.demo")
DEMO_STATIONS = ("station-a", "station-b")
# Step logs go to the instance (see them in `make ui`); the terminal shows warnings and up.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def ensure_samples(
    settings: LapsSettings, *, videos: int, seconds: float, console: Console
) -> None:
    """Render sample videos into the landing folder unless some are already there."""
    landing = settings.landing()
    if discover(landing):
        console.print(f"landing already holds videos: {settings.landing_uri}")
        return
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    for i, station in enumerate(DEMO_STATIONS):
        out = f"{settings.landing_uri}/{station}/{today}"
        with console.status(f"rendering {videos} sample videos for {station}"):
            synthesize(
                out,
                videos=videos,
                seconds=seconds,
                seed=100 + i,
                preset="test",
                stem_prefix=station,
            )
        console.print(f"rendered {videos} x {seconds:.0f} s sample videos into {out}")


def run_landing_sensor(instance: dg.DagsterInstance, console: Console) -> list[dg.RunRequest]:
    """Evaluate the real sensor once and apply what it asks for (new dates and stations, as
    the daemon does before it launches the runs; the runs)."""
    with dg.build_sensor_context(
        instance=instance, resources={"storage": LapsStorage()}, definitions=defs
    ) as ctx:
        result = landing_sensor(ctx)
    for req in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        what = {"date": "dates", "station": "stations"}.get(req.partitions_def_name, "keys")
        console.print(f"registered {what}: {', '.join(req.partition_keys)}")
    return list(result.run_requests or [])


def execute(requests: list[dg.RunRequest], instance: dg.DagsterInstance, console: Console) -> bool:
    """The stage list in order: runs of partitioned stages for every partition, and between
    them the store-wide stages that have a job of their own (``STORE_JOBS``: the tokenizer
    after the codes' inputs exist, the primitive library after the segments), then the
    optional exports."""
    group: list = []
    for s in STAGES:
        if s.name not in STORE_JOBS:
            group.append(s)
            continue
        if group and not _run_each(job_def(), requests, _asset_keys(group), instance, console):
            return False
        group = []
        name, what = STORE_JOBS[s.name]
        if not _run_job(name, what, instance, console):
            return False
    if group and not _run_each(job_def(), requests, _asset_keys(group), instance, console):
        return False
    return _run_job("export_job", "the LeRobot v3 export of every segment", instance, console)


def job_def():
    return defs.resolve_job_def("partition_job")


def _run_job(name: str, what: str, instance: dg.DagsterInstance, console: Console) -> bool:
    """Run one unpartitioned job in process; say so, and where to look when it fails."""
    console.print(f"[bold]run[/] {name} ({what})")
    result = defs.resolve_job_def(name).execute_in_process(
        instance=instance, raise_on_error=False, run_config=QUIET
    )
    if not result.success:
        console.print(f"[red]run {result.run_id} failed[/]; see `make ui` for its logs")
    return result.success


def _asset_keys(stages) -> list[dg.AssetKey]:
    return [dg.AssetKey(k) for s in stages for k in STAGE_ASSETS[s.name]]


def _run_each(job, requests, selection, instance, console) -> bool:
    ok = True
    for req in requests:
        names = ", ".join(k.to_user_string() for k in selection)
        console.print(f"[bold]run[/] {names} for {req.partition_key}")
        result = job.execute_in_process(
            instance=instance,
            partition_key=req.partition_key,
            tags=req.tags,
            asset_selection=selection,
            raise_on_error=False,
            run_config=QUIET,
        )
        ok &= result.success
        if not result.success:
            console.print(f"[red]run {result.run_id} failed[/]; see `make ui` for its logs")
    return ok


def evaluate_samples(
    settings: LapsSettings, requests: list[dg.RunRequest], console: Console
) -> None:
    """Score the predicted segments of each partition against the sample videos' ground truth
    (the renderer writes <stem>.segments.json next to each video; the pipeline never reads it)."""
    landing, store = Path(settings.landing_uri), Path(settings.store_uri)
    if not landing.is_dir() or not store.is_dir():
        console.print("evaluation skipped: it needs local landing and store folders")
        return
    for req in requests:
        date, station = split_key(req.partition_key)
        gt_dir = landing / station / date
        pred_dir = store / "segments" / f"date={date}" / f"station={station}"
        if not pred_dir.is_dir() or not list(gt_dir.glob("*.segments.json")):
            continue
        report = evaluate_dirs(gt_dir, pred_dir, name=f"{station} {date}")
        console.print(
            f"\n[bold]segments vs ground truth, {station} {date}[/] "
            "(boundary F1 at +-s tolerances, segment F1 at IoU)"
        )
        console.print(report.to_markdown(), markup=False, soft_wrap=True)


def summary(settings: LapsSettings, console: Console) -> None:
    store = settings.store()
    con = catalog.connect(settings.catalog_path, store)
    try:
        tables = catalog.table_names(store)
        counts = [
            (name, con.execute(f'select count(*) from "{name}"').fetchone()[0]) for name in tables
        ]
        t = table("laps demo: what was made", ["table", "rows"], counts)
        console.print(t)
        hours = con.execute("select coalesce(sum(duration_sec), 0) / 3600 from videos").fetchone()
        console.print(f"video hours ingested: {hours[0]:.3f}")
    finally:
        con.close()
    console.print(f"data root:      {settings.data_root}")
    console.print(f"tables:         {settings.store_uri}/tables/<table>/date=.../station=.../")
    console.print(
        f"DuckDB catalog: {settings.catalog_path}  (try: .venv/bin/laps query "
        '"select station, count(*) from videos group by 1")'
    )
    _print_training_data(settings, console)
    console.print("Dagster UI:     make ui  ->  http://127.0.0.1:3000 (runs, lineage, checks)")


def _print_training_data(settings: LapsSettings, console: Console) -> None:
    """Where the training data is: the card, the shards, the dataset, the JSONL."""
    store = settings.store()
    if not store.exists(keys.CARD_KEY):
        console.print("[yellow]no training data published (see the runs' logs)[/]")
        return
    shards = [i.key for i in store.list(f"{keys.PUBLISH_ROOT}/{keys.SHARDS_DIR}/")]
    tars = [k for k in shards if k.endswith(".tar")]
    console.print(f"dataset card:   {store.uri(keys.CARD_KEY)}", soft_wrap=True)
    console.print(
        f"shards:         {len(tars)} WebDataset tars under "
        f"{store.uri(f'{keys.PUBLISH_ROOT}/{keys.SHARDS_DIR}')}/date=.../station=.../",
        soft_wrap=True,
    )
    console.print(
        f"dataset:        {store.uri(f'{keys.PUBLISH_ROOT}/{keys.DATASET_DIR}')}/ (Parquet)",
        soft_wrap=True,
    )
    console.print(
        f"latent actions: {store.uri(f'{keys.PUBLISH_ROOT}/{keys.LATENT_ACTIONS_DIR}')}/ (JSONL)",
        soft_wrap=True,
    )
    if store.exists(keys.CLUSTERS_KEY):
        import io

        import pyarrow.parquet as pq

        rows = pq.read_table(io.BytesIO(store.read_bytes(keys.CLUSTERS_KEY))).to_pylist()
        names = ", ".join(f"{r['cluster_name']} ({r['size']})" for r in rows)
        console.print(f"primitives:     {len(rows)} clusters: {names}", soft_wrap=True)
        console.print(f"gallery:        {store.uri(keys.GALLERY_KEY)}", soft_wrap=True)
        console.print(f"embedding map:  {store.uri(keys.GALLERY_MAP_KEY)}", soft_wrap=True)
    lerobot = f"{keys.PUBLISH_ROOT}/{keys.LEROBOT_DIR}/meta/info.json"
    if store.exists(lerobot):
        console.print(
            f"LeRobot v3:     {store.uri(f'{keys.PUBLISH_ROOT}/{keys.LEROBOT_DIR}')}/",
            soft_wrap=True,
        )


def terminal_logging(stream=None) -> logging.Handler:
    """Warnings and up on the terminal. dagster.yaml's ``python_logs`` raises the core's loggers
    to INFO so the run's event log has them; without a level on the terminal's handler those
    INFO records would flood the demo's output (the step logs are in `make ui`)."""
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.WARNING)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(min(root.level or logging.WARNING, logging.WARNING))
    return handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--videos", type=int, default=2, help="sample videos per station")
    parser.add_argument("--seconds", type=float, default=40.0, help="length of each sample")
    args = parser.parse_args(argv)
    terminal_logging()
    console = make_console()
    settings = LapsSettings.from_env()
    try:
        check_stores(settings)  # an unreachable S3 store: one line, before any work
        ensure_samples(settings, videos=args.videos, seconds=args.seconds, console=console)
        instance = dg.DagsterInstance.get()
        requests = run_landing_sensor(instance, console)
        if not requests:
            console.print("no new files since the last demo run; nothing to process")
        ok = execute(requests, instance, console)
        if ok:
            evaluate_samples(settings, requests, console)
        summary(settings, console)
    except LapsError as exc:  # e.g. the store went away during the run
        sys.stderr.write(f"error: {exc}\n")  # one line, as the `laps` commands end
        return 2
    return 0 if ok else 1


def check_stores(settings: LapsSettings) -> None:
    """ConfigError naming the variable when the landing or the store is an S3 location that
    cannot be reached (probed once with a short timeout; local folders pass)."""
    check_reachable(settings.landing(), "LAPS_LANDING_URI")
    check_reachable(settings.store(), "LAPS_STORE_URI")


if __name__ == "__main__":
    sys.exit(main())
