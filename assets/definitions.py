"""The code location: every asset, check, job, sensor, schedule and resource."""

import dagster as dg

from assets import ingest, motion, segments, tokenizer
from assets.automation import (
    landing_sensor,
    nightly_schedule,
    partitioned_job,
    train_tokenizer_job,
)
from assets.resources import LapsConfig, LapsStorage

defs = dg.Definitions(
    assets=[
        ingest.videos,
        ingest.chunks,
        motion.tracks,
        tokenizer.motion_tokenizer,
        tokenizer.latent_codes,
        segments.segmentation,
    ],
    jobs=[partitioned_job, train_tokenizer_job],
    sensors=[landing_sensor],
    schedules=[nightly_schedule],
    resources={
        "storage": LapsStorage(),
        "laps_config": LapsConfig(),
        "tokenizer": tokenizer.TokenizerSettings(),
        "segmentation": segments.SegmentationSettings(),
    },
)
