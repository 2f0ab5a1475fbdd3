"""Automation: a sensor that registers the dates and stations video landed for and requests runs
for newly landed files, and a nightly schedule that registers yesterday and processes it for
every known station."""

import hashlib
import json
from datetime import UTC, datetime, timedelta

import dagster as dg

from assets.partitions import (
    add_requests,
    date_station,
    partition_key,
    register,
    station_partitions,
)
from assets.resources import LapsStorage
from pipeline.ingest.landing import discover

EXPORTS = dg.AssetSelection.assets("lerobot_dataset")

partitioned_job = dg.define_asset_job(
    "partition_job",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("training", "library") - EXPORTS,
    partitions_def=date_station,
    description="Everything for one (date, station): ingest, chunks, tracks, codes and the "
    "stages after them (codes need a trained tokenizer: train_tokenizer_job; clusters a "
    "fitted primitive library: fit_library_job).",
)

train_tokenizer_job = dg.define_asset_job(
    "train_tokenizer_job",
    selection=dg.AssetSelection.groups("training"),
    description="Train (or reuse) the motion tokenizer on every stored track window.",
)

fit_library_job = dg.define_asset_job(
    "fit_library_job",
    selection=dg.AssetSelection.groups("library"),
    description="Fit (or reuse) the primitive library on every stored segment; set "
    "discovery.refit to refit (cluster ids are kept where centroids match).",
)

export_job = dg.define_asset_job(
    "export_job",
    selection=EXPORTS,
    description="Rebuild the optional exports of every published segment (LeRobot v3).",
)


def _digest(items: list[str]) -> str:
    # surrogateescape: a file name that is not UTF-8 must not stop the sensor (ingest
    # quarantines that file with a reason)
    blob = "\n".join(sorted(items)).encode("utf-8", "surrogateescape")
    return hashlib.sha256(blob).hexdigest()[:16]


@dg.sensor(
    job=partitioned_job, minimum_interval_seconds=60, default_status=dg.DefaultSensorStatus.STOPPED
)
def landing_sensor(context: dg.SensorEvaluationContext, storage: LapsStorage) -> dg.SensorResult:
    """Scan the landing location; one run per (date, station) whose set of files changed."""
    seen: dict[str, str] = json.loads(context.cursor) if context.cursor else {}
    by_partition: dict[tuple[str, str], list[str]] = {}
    for f in discover(storage.landing()):
        by_partition.setdefault((f.date, f.station), []).append(f"{f.key}:{f.size}")
    requests = []
    for (date, station), items in sorted(by_partition.items()):
        pk = str(partition_key(date, station))
        digest = _digest(items)
        if seen.get(pk) == digest:
            continue
        seen[pk] = digest
        requests.append(
            dg.RunRequest(
                run_key=f"{pk}:{digest}", partition_key=pk, tags={"laps/files": str(len(items))}
            )
        )
    return dg.SensorResult(
        run_requests=requests,
        # every landed date and station the instance lacks (also of partitions seen before:
        # a wiped instance gets them back), applied before the runs are launched
        dynamic_partitions_requests=add_requests(context.instance, by_partition),
        cursor=json.dumps(seen, sort_keys=True),
        skip_reason=None if requests else "no newly landed files",
    )


@dg.schedule(
    job=partitioned_job,
    cron_schedule="0 2 * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.STOPPED,
)
def nightly_schedule(context: dg.ScheduleEvaluationContext):
    """At 02:00 UTC, process yesterday for every registered station (backfill catches up).
    Yesterday is registered as a date partition first (schedules cannot return partition
    requests); a station with no video that day gets a run that fails, saying so."""
    when = context.scheduled_execution_time or datetime.now(UTC)
    day = (when - timedelta(days=1)).strftime("%Y-%m-%d")
    stations = context.instance.get_dynamic_partitions(station_partitions.name)
    if not stations:
        return dg.SkipReason("no stations registered yet (the landing sensor adds them)")
    register(context.instance, [(day, s) for s in stations])
    return [
        dg.RunRequest(run_key=f"nightly:{day}:{s}", partition_key=str(partition_key(day, s)))
        for s in sorted(stations)
    ]
