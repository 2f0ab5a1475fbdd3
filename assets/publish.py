"""Publish assets: the training data ML teams consume (``pipeline.stages`` stages ``publish``
and ``card``).

``training_data`` (per partition): WebDataset shards, the Parquet dataset, the latent-action
JSONL, with blocking checks: a partition whose outputs fail one is not described in the card
and nothing downstream of it runs. ``dataset_card`` (store-wide): the card over every
published partition, rebuilt after each partition's publish.
"""

import dagster as dg

from assets.metadata import rounded, standard, table_metadata
from assets.partitions import date_and_station, date_station
from assets.resources import LapsConfig, LapsStorage, stage_context
from assets.retries import STORE_RETRY, fail_once_on_bad_input, run_stage
from assets.tokenizer import embedded_png
from pipeline.io import keys as layout
from pipeline.publish.checks import CHECK_NAMES, partition_checks
from pipeline.publish.dataset import DATASET, DATASET_FIELDS
from pipeline.publish.lerobot import default_out_dir, export_lerobot

CHECK_DESCRIPTIONS = {
    "shards_indexed": "every shard in the partition's index exists and its sha256 matches",
    "sample_count": "samples in the shards == segments with a clip in the segments table",
    "unique_ids": "segment ids and latent-action step ids are unique",
    "code_range": "every latent-action code is in [0, codebook_size)",
    "step_frames": "step frame indexes increase strictly inside each segment",
}


@dg.asset(
    partitions_def=date_station,
    group_name="publish",
    kinds={"webdataset", "parquet"},
    deps=["segments", "segment_clips", "segment_clusters", "segment_labels"],
    check_specs=[
        dg.AssetCheckSpec(
            name, asset="training_data", blocking=True, description=CHECK_DESCRIPTIONS[name]
        )
        for name in CHECK_NAMES
    ],
    retry_policy=STORE_RETRY,
    **standard("publish"),
    metadata=table_metadata(DATASET, {name: text for name, _, _, text in DATASET_FIELDS}),
    description="VLA pre-training data of the partition: WebDataset shards (one sample per "
    "segment: mp4 clip, json, codes.npy, latent.npy) with a shard index and sidecars, the "
    "Parquet dataset (one row per segment) and the LAPA-style latent-action JSONL.",
)
def training_data(
    context: dg.AssetExecutionContext, storage: LapsStorage, laps_config: LapsConfig
) -> dg.MaterializeResult:
    date, station = date_and_station(context)
    store = storage.store()
    summary = run_stage("publish", stage_context(storage, laps_config, date=date, station=station))
    extra = summary.extra
    checks = partition_checks(store, date, station)  # read back from what was written
    return dg.MaterializeResult(
        metadata=rounded(
            {
                "samples": extra["samples"],
                "shards": dg.MetadataValue.json(extra["shards"]),
                "bytes": extra["bytes"],
                "skipped": dg.MetadataValue.json(extra["skipped"]),
                "clips_per_s": extra["clips_per_s"],
                "mb_per_s": extra["mb_per_s"],
                "dataset": dg.MetadataValue.path(store.uri(summary.keys["dataset"])),
                **(
                    {"latent_actions": dg.MetadataValue.path(store.uri(summary.keys["steps"]))}
                    if "steps" in summary.keys
                    else {}
                ),
                "dagster/row_count": summary.rows["dataset"],
            }
        ),
        check_results=[
            dg.AssetCheckResult(
                check_name=name,
                passed=bool(c.passed),
                severity=dg.AssetCheckSeverity.ERROR,
                description=c.description,
                metadata=rounded({k: _meta(v) for k, v in c.metadata.items()}),
            )
            for name in CHECK_NAMES
            if (c := checks[name]) is not None
        ],
    )


@dg.asset(
    group_name="publish",
    kinds={"markdown"},
    deps=[training_data],
    retry_policy=STORE_RETRY,
    **standard("card"),
    description="The dataset card (README.md next to the shards): counts, hours, stations, "
    "dates, codebook, schema, two histograms and loading snippets, over every published "
    "partition.",
)
def dataset_card(storage: LapsStorage, laps_config: LapsConfig) -> dg.MaterializeResult:
    store = storage.store()
    summary = run_stage("card", stage_context(storage, laps_config))
    stats = summary.extra
    meta = {
        "card": dg.MetadataValue.path(store.uri(summary.keys["card"])),
        "segments": stats.get("segments", 0),
        "partitions": stats.get("partitions", 0),
    }
    meta.update(_library_meta(store, summary.keys, stats.get("library") or {}))
    return dg.MaterializeResult(metadata=rounded(meta))


def _library_meta(store, keys_: dict, lib: dict) -> dict:
    """The clusters, the gallery, the map (inline) and ICSS, when a library exists."""
    if not lib.get("library_version"):
        return {"clusters": "none yet: run fit_library_job"}
    icss = lib.get("icss") or {}
    meta = {
        "library_version": lib["library_version"],
        "clusters": dg.MetadataValue.json(lib["clusters"]),
        "gallery": dg.MetadataValue.url(store.uri(keys_["gallery"]))
        if store.uri(keys_["gallery"]).startswith(("http", "file"))
        else dg.MetadataValue.path(store.uri(keys_["gallery"])),
        "clusters_table": dg.MetadataValue.path(store.uri(keys_["clusters"])),
        "icss_embedder": str(icss.get("embedder", "not computed")),
        "icss": dg.MetadataValue.json({k: v for k, v in icss.items() if k != "markdown"}),
    }
    if icss.get("difference") is not None:
        meta["icss_within"] = float(icss["within"])
        meta["icss_random"] = float(icss["random"])
        meta["icss_difference"] = float(icss["difference"])
    if store.exists(layout.GALLERY_MAP_KEY):
        meta["map_image"] = dg.MetadataValue.md(
            embedded_png(store.read_bytes(layout.GALLERY_MAP_KEY), "primitive embedding map")
        )
    return meta


@dg.asset(
    group_name="publish",
    kinds={"lerobot", "parquet", "mp4"},
    deps=[training_data],
    retry_policy=STORE_RETRY,
    **standard("export"),
    description="Optional: a LeRobot v3.0 dataset of every published segment (an episode per "
    "segment, a frame per 0.1 s step, action.latent = the step's code), rebuilt whole; "
    "`export_job` or `laps export lerobot` makes it, nightly runs do not.",
)
def lerobot_dataset(storage: LapsStorage) -> dg.MaterializeResult:
    store = storage.store()
    with fail_once_on_bad_input():
        s = export_lerobot(store, default_out_dir(store, storage.settings().data_root))
    return dg.MaterializeResult(
        metadata=rounded(
            {
                "path": dg.MetadataValue.path(str(s["out"])),
                "episodes": s["episodes"],
                "frames": s["frames"],
                "files": s["files"],
                "fps": s["fps"],
                "size": dg.MetadataValue.json(list(s["size"])),
                "skipped": dg.MetadataValue.json(s["skipped"]),
                "seconds": s["seconds"],
                "dagster/row_count": s["frames"],
            }
        )
    )


def _meta(value):
    """A check's metadata value as Dagster shows it (lists and dicts as JSON)."""
    return dg.MetadataValue.json(value) if isinstance(value, (dict, list, tuple)) else value
