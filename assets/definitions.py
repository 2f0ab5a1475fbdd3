"""The code location: every asset, check, job, sensor, schedule and resource."""

import os

import dagster as dg
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)

from assets import discovery, ingest, language, motion, publish, segments, tokenizer
from assets.automation import (
    STAGES_TAG,
    export_job,
    fit_library_job,
    landing_sensor,
    nightly_schedule,
    partitioned_job,
    train_tokenizer_job,
)
from assets.executors import executor_from_env
from assets.partitions import date_station
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
# The partition runs between the store-wide jobs: one job per group of stages, so the runs list
# says which stage a run was. The names, by the group's first stage; the groups themselves come
# from the stage list cut at the STORE_JOBS stages.
GROUP_JOB_NAMES: dict[str, str] = {
    "ingest": "ingest_job",
    "codes": "codes_segments_job",
    "clusters": "publish_job",
}


def stage_groups() -> list[tuple[str, ...]]:
    """The stages between the store-wide ones (``STORE_JOBS``), in stage order: what one
    partition run of a group job materializes."""
    groups: list[tuple[str, ...]] = []
    current: list[str] = []
    for name in STAGE_ASSETS:
        if name in STORE_JOBS:
            groups.append(tuple(current))
            current = []
        else:
            current.append(name)
    return [g for g in [*groups, tuple(current)] if g]


def _group_job(stages: tuple[str, ...]) -> UnresolvedAssetJobDefinition:
    assets = [key for s in stages for key in STAGE_ASSETS[s]]
    return dg.define_asset_job(
        GROUP_JOB_NAMES[stages[0]],
        selection=dg.AssetSelection.assets(*assets),
        partitions_def=date_station,
        tags={STAGES_TAG: ",".join(stages)},
        description=f"One (date, station): {', '.join(assets)} (stages {', '.join(stages)}).",
    )


GROUP_JOBS: dict[str, UnresolvedAssetJobDefinition] = {
    GROUP_JOB_NAMES[g[0]]: _group_job(g) for g in stage_groups()
}

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
    jobs=[
        partitioned_job,
        *GROUP_JOBS.values(),
        train_tokenizer_job,
        fit_library_job,
        export_job,
    ],
    sensors=[landing_sensor],
    schedules=[nightly_schedule],
    executor=executor_from_env(),  # LAPS_EXECUTOR: default, multiprocess, celery, k8s
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
