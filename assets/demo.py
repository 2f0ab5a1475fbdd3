"""`make demo`: sample videos -> the landing sensor -> partition runs -> a summary.

Runs against the embedded defaults: local ``$LAPS_DATA_ROOT`` (./data), the sqlite Dagster
instance in ``$DAGSTER_HOME`` (so `make ui` shows these runs), the DuckDB catalog.
"""

import argparse
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from dagster import DagsterEventType, DagsterRun, DagsterRunStatus
from dagster._core.definitions.run_request import InstigatorType
from dagster._core.definitions.selector import JobSubsetSelector
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    SensorInstigatorData,
)
from dagster._core.workspace.context import BaseWorkspaceRequestContext, WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from assets.automation import landing_sensor
from assets.definitions import GROUP_JOB_NAMES, STAGE_ASSETS, STORE_JOBS, defs, stage_groups
from assets.partitions import date_station, split_key
from assets.resources import LapsStorage
from pipeline.cli.console import Console, make_console, table
from pipeline.errors import ConfigError, LapsError
from pipeline.evaluation.harness import evaluate_dirs
from pipeline.ingest.landing import discover
from pipeline.io import catalog, keys
from pipeline.io.settings import LapsSettings
from pipeline.io.storage.s3 import check_reachable
from pipeline.synth import synthesize

log = logging.getLogger("laps.demo")
DEMO_STATIONS = ("station-a", "station-b")
# Step logs go to the instance (see them in `make ui`); the terminal shows warnings and up.
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
# The code location the runs come from: the one `make ui` and `dagster-daemon` load.
WORKSPACE = Path(__file__).resolve().parents[1] / "workspace.yaml"
DEMO_TAG = "laps/demo"  # on every run the demo launches
POLL_SECONDS = 1.0


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


@contextmanager
def workspace(instance: dg.DagsterInstance) -> Iterator[BaseWorkspaceRequestContext]:
    """The code location of ``workspace.yaml`` (what `make ui` and the daemon load), served by a
    code server of its own for as long as the block runs."""
    target = WorkspaceFileTarget(paths=[str(WORKSPACE)])
    # the code server's own INFO lines ("Started Dagster code server ...") stay off the demo's
    with WorkspaceProcessContext(instance, target, code_server_log_level="WARNING") as process:
        ctx = process.create_request_context()
        for error in ctx.code_location_errors():
            first = (error.message or "").strip().splitlines()[:1]
            raise ConfigError(f"the code location of {WORKSPACE} did not load: {''.join(first)}")
        yield ctx


def _repository(ctx: BaseWorkspaceRequestContext):
    (name,) = ctx.code_location_names
    (repo,) = ctx.get_code_location(name).get_repositories().values()
    return ctx.get_code_location(name), repo


def landing_sensor_state(instance: dg.DagsterInstance, ctx: BaseWorkspaceRequestContext):
    """The landing sensor as the instance stores it (cursor, status), and the sensor."""
    _, repo = _repository(ctx)
    sensor = repo.get_sensor(landing_sensor.name)
    state = instance.get_instigator_state(sensor.get_remote_origin_id(), sensor.selector_id)
    return sensor, state


def store_sensor_cursor(
    instance: dg.DagsterInstance, ctx: BaseWorkspaceRequestContext, cursor: str | None
) -> None:
    """Leave ``cursor`` as the landing sensor's cursor, where the daemon keeps it (its
    instigator state): turning the sensor on later starts from what the demo processed. A
    sensor the operator never turned on stays off."""
    sensor, state = landing_sensor_state(instance, ctx)
    if state is None:
        instance.add_instigator_state(
            InstigatorState(
                sensor.get_remote_origin(),
                InstigatorType.SENSOR,
                InstigatorStatus.STOPPED,
                SensorInstigatorData(
                    min_interval=sensor.min_interval_seconds,
                    cursor=cursor,
                    sensor_type=sensor.sensor_type,
                ),
            )
        )
    else:
        data = state.instigator_data
        assert isinstance(data, SensorInstigatorData)
        instance.update_instigator_state(state.with_data(data._replace(cursor=cursor)))


def run_landing_sensor(
    instance: dg.DagsterInstance, ctx: BaseWorkspaceRequestContext, console: Console
) -> tuple[list[dg.RunRequest], str | None]:
    """Evaluate the real sensor once from its stored cursor and apply what it asks for (new
    dates and stations, as the daemon does before it launches the runs); the run requests and
    the cursor to store once they ran."""
    _, state = landing_sensor_state(instance, ctx)
    cursor = state.instigator_data.cursor if state and state.instigator_data else None
    with dg.build_sensor_context(
        instance=instance, resources={"storage": LapsStorage()}, definitions=defs, cursor=cursor
    ) as sensor_ctx:
        result = landing_sensor(sensor_ctx)
    for req in result.dynamic_partitions_requests or []:
        instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        what = {"date": "dates", "station": "stations"}.get(req.partitions_def_name, "keys")
        console.print(f"registered {what}: {', '.join(req.partition_keys)}")
    return list(result.run_requests or []), result.cursor


def execute(requests: list[dg.RunRequest], launcher: "Launcher", console: Console) -> bool:
    """The stage list in order: a run of each group job (``GROUP_JOBS``) for every partition
    (the partitions of one group at once), and between them the store-wide stages that have a
    job of their own (``STORE_JOBS``: the tokenizer after the codes' inputs exist, the
    primitive library after the segments), then the optional exports."""
    for group in stage_groups_and_store_jobs():
        if group in STORE_JOBS:
            name, what = STORE_JOBS[group]
            console.print(f"[bold]run[/] {name} ({what})")
            if not launcher.run_all([(name, None, {})]):
                return False
            continue
        job = GROUP_JOB_NAMES[group[0]]
        names = ", ".join(k for s in group for k in STAGE_ASSETS[s])
        for req in requests:
            console.print(f"[bold]run[/] {names} for {req.partition_key}")
        if not launcher.run_all([(job, req.partition_key, req.tags) for req in requests]):
            return False
    console.print("[bold]run[/] export_job (the LeRobot v3 export of every segment)")
    return launcher.run_all([("export_job", None, {})])


def stage_groups_and_store_jobs() -> list:
    """The stage list as the demo runs it: groups of partitioned stages (tuples) and the
    store-wide stages between them (names)."""
    groups = iter(stage_groups())
    out: list = []
    for name in STAGE_ASSETS:
        if name in STORE_JOBS:
            out.append(name)
        elif not out or not isinstance(out[-1], tuple):
            out.append(next(groups))
    return out


class Launcher:
    """Runs launched through the instance, as the UI and the daemon launch them: each a run of
    a job of the code location (so the runs list and the Overview timeline show its job, code
    location and partition), executed by the run launcher in a process of its own."""

    def __init__(
        self, instance: dg.DagsterInstance, ctx: BaseWorkspaceRequestContext, console: Console
    ):
        self.instance, self.ctx, self.console = instance, ctx, console
        self.location, self.repo = _repository(ctx)

    def create(self, job_name: str, partition_key: str | None, tags: dict) -> DagsterRun:
        remote_job = self.location.get_job(
            JobSubsetSelector(
                location_name=self.location.name,
                repository_name=self.repo.name,
                job_name=job_name,
                op_selection=None,
            )
        )
        run_tags = {**remote_job.tags, **tags, DEMO_TAG: "true"}
        if partition_key is not None:
            run_tags.update(date_station.get_tags_for_partition_key(partition_key))
        plan = self.location.get_execution_plan(
            remote_job, QUIET, step_keys_to_execute=None, known_state=None, instance=self.instance
        ).execution_plan_snapshot
        return self.instance.create_run(
            job_name=job_name,
            run_id=None,
            run_config=QUIET,
            resolved_op_selection=None,
            step_keys_to_execute=plan.step_keys_to_execute,
            op_selection=None,
            status=None,
            root_run_id=None,
            parent_run_id=None,
            tags=run_tags,
            job_snapshot=remote_job.job_snapshot,
            execution_plan_snapshot=plan,
            parent_job_snapshot=remote_job.parent_job_snapshot,
            remote_job_origin=remote_job.get_remote_origin(),
            job_code_origin=remote_job.get_python_origin(),
            asset_selection=None,
            asset_check_selection=None,
            asset_graph=self.repo.asset_graph,
        )

    def run_all(self, runs: list[tuple[str, str | None, dict]]) -> bool:
        """Launch these runs together and wait for all of them; say how each ended, and for a
        failed one its id and first error."""
        # launched, not submitted: the instance's default QueuedRunCoordinator would leave
        # them queued until a daemon dequeues them, and the demo runs without one
        launched = [self.instance.launch_run(self.create(*r).run_id, self.ctx) for r in runs]
        pending = {run.run_id: run for run in launched}
        ok = True
        while pending:
            time.sleep(POLL_SECONDS)
            for run_id in list(pending):
                run = self.instance.get_run_by_id(run_id)
                if run is None or not run.is_finished:
                    continue
                del pending[run_id]
                ok &= self._report(run)
        return ok

    def _report(self, run: DagsterRun) -> bool:
        where = f" {run.tags['dagster/partition']}" if "dagster/partition" in run.tags else ""
        took = ""
        stats = self.instance.get_run_stats(run.run_id)
        if stats.start_time and stats.end_time:
            took = f" in {stats.end_time - stats.start_time:.0f} s"
        if run.status == DagsterRunStatus.SUCCESS:
            self.console.print(f"  {run.job_name}{where}: succeeded{took}")
            return True
        self.console.print(
            f"[red]  {run.job_name}{where}: {run.status.value.lower()}{took}, run {run.run_id}[/]"
            f": {first_error(self.instance, run.run_id)}; see `make ui` for its logs",
            soft_wrap=True,
        )
        return False


def first_error(instance: dg.DagsterInstance, run_id: str) -> str:
    """The first error message of a run's event log (a failed step, else the run's failure)."""
    failures = (DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE)
    for record in instance.all_logs(run_id, of_type=set(failures)):
        event = record.dagster_event
        error = getattr(event.event_specific_data, "error", None) if event else None
        message = (error.message if error else None) or record.message or ""
        if message.strip():
            return message.strip().splitlines()[0]
    return "no error in its event log"


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
        with workspace(instance) as ctx:
            requests, cursor = run_landing_sensor(instance, ctx, console)
            if not requests:
                console.print("no new files since the last demo run; nothing to process")
                ok = True
            else:
                ok = execute(requests, Launcher(instance, ctx, console), console)
            if ok:  # a failed demo leaves the cursor: the next one tries these files again
                store_sensor_cursor(instance, ctx, cursor)
        if ok and requests:
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
