"""The code location: every asset, check, job, sensor, schedule and resource."""

import dagster as dg

from assets import ingest, motion, publish, segments, tokenizer
from assets.automation import (
    export_job,
    landing_sensor,
    nightly_schedule,
    partitioned_job,
    train_tokenizer_job,
)
from assets.resources import LapsConfig, LapsStorage
from pipeline.stages import STAGE_NAMES

# The assets each stage of ``pipeline.stages.STAGES`` materializes (tests check that the asset
# graph runs them in the stage list's order).
STAGE_ASSETS: dict[str, tuple[str, ...]] = {
    "ingest": ("videos",),
    "chunks": ("chunks",),
    "tracks": ("tracks",),
    "tokenizer": ("motion_tokenizer",),
    "codes": ("latent_codes",),
    "segments": ("energy", "segments", "segment_clips"),
    "publish": ("training_data",),
    "card": ("dataset_card",),
}
assert tuple(STAGE_ASSETS) == STAGE_NAMES, "every stage needs its assets, in order"
# Assets outside the stage list: optional exports, materialized on request (`export_job`).
EXPORT_ASSETS: tuple[str, ...] = ("lerobot_dataset",)

defs = dg.Definitions(
    assets=[
        ingest.videos,
        ingest.chunks,
        motion.tracks,
        tokenizer.motion_tokenizer,
        tokenizer.latent_codes,
        segments.segmentation,
        publish.training_data,
        publish.dataset_card,
        publish.lerobot_dataset,
    ],
    jobs=[partitioned_job, train_tokenizer_job, export_job],
    sensors=[landing_sensor],
    schedules=[nightly_schedule],
    resources={
        "storage": LapsStorage(),
        "laps_config": LapsConfig(),
    },
)
