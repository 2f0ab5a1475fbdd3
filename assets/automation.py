"""Automation: a sensor that registers the dates and stations video landed for and requests runs
for newly landed files, and a nightly schedule that registers yesterday and processes it for
every known station."""

import hashlib
import json
import os
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
from pipeline.errors import ConfigError
from pipeline.ingest.landing import discover
from pipeline.stages import STAGE_NAMES

EXPORTS = dg.AssetSelection.assets("lerobot_dataset")
# Every run carries the stages it runs (comma-separated, in stage order), so the runs list and
# a run filter say what a run did.
STAGES_TAG = "laps/stages"
# The store-wide stages, which have jobs of their own; a partition run runs the others.
_STORE_WIDE = ("tokenizer", "library")
# How often the daemon may evaluate the landing sensor (seconds); tests set it low.
SENSOR_INTERVAL_ENV = "LAPS_SENSOR_INTERVAL_SECONDS"


def sensor_interval() -> int:
    """The landing sensor's minimum interval: ``$LAPS_SENSOR_INTERVAL_SECONDS``, default 60."""
    raw = os.environ.get(SENSOR_INTERVAL_ENV, "").strip()
    try:
        value = int(raw) if raw else 60
    except ValueError:
        raise ConfigError(
            f"{SENSOR_INTERVAL_ENV} must be a whole number of seconds, not {raw!r}"
        ) from None
    if value < 1:
        raise ConfigError(f"{SENSOR_INTERVAL_ENV} must be at least 1 second, not {value}")
    return value


partitioned_job = dg.define_asset_job(
    "partition_job",
    selection=dg.AssetSelection.all() - dg.AssetSelection.groups("training", "library") - EXPORTS,
    partitions_def=date_station,
    tags={STAGES_TAG: ",".join(s for s in STAGE_NAMES if s not in _STORE_WIDE)},
    description="Everything for one (date, station): ingest, chunks, tracks, codes and the "
    "stages after them (codes need a trained tokenizer: train_tokenizer_job; clusters a "
    "fitted primitive library: fit_library_job).",
)

train_tokenizer_job = dg.define_asset_job(
    "train_tokenizer_job",
    selection=dg.AssetSelection.groups("training"),
    tags={STAGES_TAG: "tokenizer"},
    description="Train (or reuse) the motion tokenizer on every stored track window.",
)

fit_library_job = dg.define_asset_job(
    "fit_library_job",
    selection=dg.AssetSelection.groups("library"),
    tags={STAGES_TAG: "library"},
    description="Fit (or reuse) the primitive library on every stored segment; set "
    "discovery.refit to refit (cluster ids are kept where centroids match).",
)

export_job = dg.define_asset_job(
    "export_job",
    selection=EXPORTS,
    tags={STAGES_TAG: "export"},
    description="Rebuild the optional exports of every published segment (LeRobot v3).",
)


def _digest(items: list[str]) -> str:
    # surrogateescape: a file name that is not UTF-8 must not stop the sensor (ingest
    # quarantines that file with a reason)
    blob = "\n".join(sorted(items)).encode("utf-8", "surrogateescape")
    return hashlib.sha256(blob).hexdigest()[:16]


@dg.sensor(
    job=partitioned_job,
    minimum_interval_seconds=sensor_interval(),
    default_status=dg.DefaultSensorStatus.STOPPED,
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
    # evaluated by hand (`dagster schedule preview`, a test) there is no scheduled time: today
    when = _scheduled_time(context) or datetime.now(UTC)
    day = (when - timedelta(days=1)).strftime("%Y-%m-%d")
    stations = context.instance.get_dynamic_partitions(station_partitions.name)
    if not stations:
        return dg.SkipReason("no stations registered yet (the landing sensor adds them)")
    register(context.instance, [(day, s) for s in stations])
    return [
        dg.RunRequest(run_key=f"nightly:{day}:{s}", partition_key=str(partition_key(day, s)))
        for s in sorted(stations)
    ]


def _scheduled_time(context: dg.ScheduleEvaluationContext) -> datetime | None:
    """The tick's scheduled time; None when evaluated without one (the property raises then)."""
    try:
        return context.scheduled_execution_time
    except Exception:  # dagster's CheckError: "no scheduled_execution_time was set"
        return None
