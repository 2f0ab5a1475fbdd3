"""Segmentation assets: Latent Action Energy per window, action-primitive segments (table and
segment files), and one H.264 clip per segment; computed together by one step."""

import dagster as dg

from assets.checks import blocking_specs, results
from assets.metadata import clip_strip_markdown, rounded, standard, table_metadata
from assets.partitions import date_and_station, date_station
from assets.resources import LapsConfig, LapsStorage, stage_context
from assets.retries import STORE_RETRY, run_stage
from assets.tokenizer import embedded_png, latent_codes
from pipeline.checks import clip_checks, energy_checks, segments_checks
from pipeline.errors import KeyframeError, StorageKeyError
from pipeline.io import schemas
from pipeline.io.keys import clips_prefix
from pipeline.io.tables import read_partition
from pipeline.segments.plots import preview_png

STRUCTURE_CHECKS = [
    *blocking_specs("energy", {
        "schema_version": f"the written energy table is at schema version "
        f"{schemas.ENERGY_VERSION}",
        "unique_windows": "no (video_id, window_index) appears twice",
        "no_nulls": "no null in a non-nullable column of the written energy table",
    }),
    *blocking_specs("segments", {
        "schema_version": f"the written segments table is at schema version "
        f"{schemas.SEGMENTS_VERSION}",
        "unique_segment_ids": "no segment_id appears twice",
        "no_nulls": "no null in a non-nullable column of the written segments table",
        "segments_ordered": "each video's segments are numbered 0..n-1 in time order, "
        "non-empty and not overlapping",
    }),
    *blocking_specs("segment_clips", {
        "every_segment_has_clip": "every segment has its clip, or a failures row (stage "
        "clips) saying why not",
        "clips_decode": "a seeded sample of up to 5 clips per partition exists and decodes "
        "(PyAV) to exactly end_frame - start_frame frames",
    }),
]  # fmt: skip


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "energy",
            deps=[latent_codes],
            group_name="segmentation",
            kinds={"parquet"},
            **standard("segments"),
            metadata=table_metadata(schemas.ENERGY),
            description="Per window: Latent Action Energy (quantized and pre-quantization "
            "latents), track speed, flow magnitude, pixel difference, the EMA the "
            "segmenter uses and the station's label-free thresholds.",
        ),
        dg.AssetSpec(
            "segments",
            deps=["energy"],
            group_name="segmentation",
            kinds={"parquet"},
            **standard("segments"),
            metadata=table_metadata(schemas.SEGMENTS),
            description="Action-primitive segments: exact source frames and seconds, "
            "deterministic segment_id, per-step code sequence, mean/peak energy; plus "
            "<stem>.segments.json per video.",
        ),
        dg.AssetSpec(
            "segment_clips",
            deps=["segments"],
            group_name="segmentation",
            kinds={"video"},
            **standard("segments"),
            description="One H.264 clip per segment, cut from the source at its native "
            "frame rate and size.",
        ),
    ],
    partitions_def=date_station,
    check_specs=[
        dg.AssetCheckSpec(
            "thresholds_calibrated",
            asset="segments",
            blocking=True,
            description="the station's energy thresholds were calibrated (label-free); "
            "without them the idle/active labels mean nothing and nothing is published",
        ),
        dg.AssetCheckSpec(
            "segment_rate_in_usual_range",
            asset="segments",
            description="segments per minute of video stay inside the station's "
            "usual range (median +- 4 robust deviations of its earlier dates; a WARN "
            "failure while the station has fewer than 3 earlier dates)",
        ),
        *STRUCTURE_CHECKS,
    ],
    can_subset=False,
    retry_policy=STORE_RETRY,  # writes the clips and tables to the store
)
def segmentation(context: dg.AssetExecutionContext, storage: LapsStorage, laps_config: LapsConfig):
    date, station = date_and_station(context)
    store = storage.store()
    summary = run_stage("segments", stage_context(storage, laps_config, date=date, station=station))
    extra = summary.extra
    rate = extra["segment_rate"]
    yield dg.MaterializeResult(
        asset_key="energy",
        metadata=rounded(
            {
                "windows": summary.rows["energy"],
                "dagster/row_count": summary.rows["energy"],
                "thr_on": float(extra["thr_on"]),
                "thr_off": float(extra["thr_off"]),
                "tokenizer_version": extra["tokenizer_version"],
                **energy_plot_metadata(store, extra["energy_plots"]),
            }
        ),
    )
    yield dg.MaterializeResult(
        asset_key="segments",
        metadata=rounded(
            {
                "segments": summary.rows["segments"],
                "dagster/row_count": summary.rows["segments"],
                "segments_per_minute": rate.rate,
                "segmenter": extra["segmenter"],
                "segment_files": dg.MetadataValue.json(extra["segment_files"]),
                "belt_filter": dg.MetadataValue.json(extra["belt_filter"]),
                # which change-point count rule fired per video, fine pieces merged away
                "granularity": dg.MetadataValue.json(extra["granularity"]),
                "table": dg.MetadataValue.path(store.uri(summary.keys["segments"])),
            }
        ),
    )
    yield dg.MaterializeResult(
        asset_key="segment_clips", metadata=clip_metadata(store, date, station, extra["clips"])
    )
    yield from segmentation_check_results(store, date, station, extra)


def segmentation_check_results(store, date: str, station: str, extra: dict) -> list:
    """Every check of the segmentation step, from the stage's summary and what it wrote."""
    calibration, rate = extra["calibration"], extra["segment_rate"]
    return [
        dg.AssetCheckResult(
            asset_key="segments",
            check_name="thresholds_calibrated",
            passed=bool(extra["calibrated"]),
            severity=dg.AssetCheckSeverity.ERROR,
            description=calibration.get("error") or f"thr_on {extra['thr_on']:.4g}",
            metadata=rounded({"thr_on": float(extra["thr_on"]) if extra["calibrated"] else None}),
        ),
        dg.AssetCheckResult(
            asset_key="segments",
            check_name="segment_rate_in_usual_range",
            passed=rate.passed,
            severity=dg.AssetCheckSeverity.WARN,
            description=rate.description,
            metadata=rounded(
                {
                    "rate": rate.rate,
                    "history_partitions": rate.history,
                    "station": station,
                    "enough_history": rate.enough_history,
                }
            ),
        ),
        *results(energy_checks(store, date, station), asset_key="energy"),
        *results(segments_checks(store, date, station), asset_key="segments"),
        *results(
            clip_checks(store, date, station, written=bool(extra["clips"])),
            asset_key="segment_clips",
        ),
    ]


def clip_metadata(store, date: str, station: str, counts: dict) -> dict:
    """Clip counts as separate numbers (none when clips are off), the partition's clip folder
    (store-relative) and a keyframe strip of its first clip inline."""
    meta: dict = {
        "clips_written": int(counts.get("written", 0)),
        "clips_kept": int(counts.get("kept", 0)),  # unchanged since an earlier run
        "clips_failed": int(counts.get("failed", 0)),
        "write_clips": bool(counts),
        "clip_folder": dg.MetadataValue.path(clips_prefix(date, station)),
    }
    table = read_partition(store, "segments", date, station)
    keys = table.column("clip_key").to_pylist() if table is not None else []
    first = next((k for k in keys if k), None)
    if first is None:
        meta["preview"] = dg.MetadataValue.md("no clip in this partition")
        return meta
    try:
        image = clip_strip_markdown(store.read_bytes(first), "keyframes of the first clip")
    except (KeyframeError, StorageKeyError) as err:  # clips_decode fails on it too
        image = f"first clip does not decode: {err}"
    meta["preview"] = dg.MetadataValue.md(f"{image}\n\n`{first}`")
    return meta


def energy_plot_metadata(store, keys: list[str]) -> dict:
    """The first video's segmentation plot shown inline (a downscaled copy), its store-relative
    key and absolute location, and every plot's key."""
    meta: dict = {"energy_plot_keys": dg.MetadataValue.json(keys)}
    meta["energy_plots"] = dg.MetadataValue.json([store.uri(k) for k in keys])
    if keys:
        meta["energy_plot"] = dg.MetadataValue.path(store.uri(keys[0]))
        meta["energy_plot_key"] = dg.MetadataValue.path(keys[0])
        image = embedded_png(preview_png(store.read_bytes(keys[0])), keys[0])
        more = f" (1 of {len(keys)}: all in `energy_plot_keys`)" if len(keys) > 1 else ""
        meta["energy_plot_image"] = dg.MetadataValue.md(f"{image}\n\n`{keys[0]}`{more}")
    return meta
