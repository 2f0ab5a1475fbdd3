"""The code location: every asset, check, job, sensor, schedule and resource."""

import dagster as dg

from assets import ingest, motion
from assets.automation import landing_sensor, nightly_schedule, partitioned_job
from assets.resources import LapsConfig, LapsStorage

defs = dg.Definitions(
    assets=[ingest.videos, ingest.chunks, motion.tracks],
    jobs=[partitioned_job],
    sensors=[landing_sensor],
    schedules=[nightly_schedule],
    resources={"storage": LapsStorage(), "laps_config": LapsConfig()},
)
