"""The code location: every asset, check, job, sensor, schedule and resource."""

import os

import dagster as dg

from assets import discovery, ingest, language, motion, publish, segments, tokenizer
from assets.automation import (
    export_job,
    fit_library_job,
    landing_sensor,
    nightly_schedule,
    partitioned_job,
    train_tokenizer_job,
)
from assets.resources import LapsConfig, LapsStorage, VlmCredentials
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
    "labels": ("segment_labels",),
    "library": ("primitive_library",),
    "clusters": ("segment_clusters",),
    "publish": ("training_data",),
    "card": ("dataset_card",),
}
assert tuple(STAGE_ASSETS) == STAGE_NAMES, "every stage needs its assets, in order"
# Store-wide stages that run as a job of their own, between the partition runs (``make demo``
# runs them in stage order): the job's name and what it does.
STORE_JOBS: dict[str, tuple[str, str]] = {
    "tokenizer": ("train_tokenizer_job", "trains, or reuses an up-to-date checkpoint"),
    "library": ("fit_library_job", "fits, or reuses, the primitive library"),
}
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
        language.segment_labels,
        discovery.primitive_library,
        discovery.segment_clusters,
        publish.training_data,
        publish.dataset_card,
        publish.lerobot_dataset,
    ],
    jobs=[partitioned_job, train_tokenizer_job, fit_library_job, export_job],
    sensors=[landing_sensor],
    schedules=[nightly_schedule],
    resources={
        "storage": LapsStorage(),
        "laps_config": LapsConfig(),
        # the key as a secret when the variable is set where the code location loads; without
        # it labelling runs keyless (local servers) or is off (no language.base_url)
        "vlm_credentials": VlmCredentials(api_key=dg.EnvVar("LAPS_VLM_API_KEY"))
        if os.environ.get("LAPS_VLM_API_KEY")
        else VlmCredentials(),
    },
)
