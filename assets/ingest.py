"""Ingest assets: landed videos -> videos/quarantine tables -> chunk manifest
(``pipeline.stages`` stages ``ingest`` and ``chunks``)."""

import dagster as dg

from assets.checks import blocking_specs, results
from assets.metadata import rounded, standard, table_metadata
from assets.partitions import date_and_station, date_station
from assets.resources import LapsConfig, LapsStorage, stage_context
from assets.retries import STORE_RETRY, run_stage
from pipeline.checks import chunks_checks, videos_checks
from pipeline.ingest.landing import not_taken
from pipeline.ingest.stage import partition_files
from pipeline.io import schemas

VIDEO_CHECKS = blocking_specs("videos", {
    "schema_version": f"the written videos table is at schema version {schemas.VIDEOS_VERSION}",
    "unique_video_ids": "no video_id appears twice in this partition",
    "no_nulls": "no null in a non-nullable column of the written table",
})  # fmt: skip
CHUNK_CHECKS = blocking_specs("chunks", {
    "schema_version": f"the written chunks table is at schema version {schemas.CHUNKS_VERSION}",
    "unique_chunk_ids": "no chunk_id appears twice",
    "no_nulls": "no null in a non-nullable column of the written table",
    "windows_contiguous": "each video's chunks own windows 0..W-1 exactly once, in order",
    "monotonic_times": "chunk start/end frames and seconds increase within each video",
    "chunks_cover_videos": "every video has the num_chunks chunks and num_windows windows the "
    "videos table gives it",
})  # fmt: skip


@dg.asset(
    partitions_def=date_station,
    group_name="ingest",
    kinds={"parquet", "video"},
    check_specs=VIDEO_CHECKS,
    retry_policy=STORE_RETRY,
    **standard("ingest"),
    metadata=table_metadata(schemas.VIDEOS),
    description="Videos landed for the partition's station and date: probed, hashed "
    "(video_id = sha256 of the bytes), bad files quarantined with a reason. A partition with "
    "no video landed fails, saying so, and writes nothing (its downstream assets do not run).",
)
def videos(
    context: dg.AssetExecutionContext, storage: LapsStorage, laps_config: LapsConfig
) -> dg.MaterializeResult:
    date, station = date_and_station(context)
    require_landed(storage, date, station)
    summary = run_stage("ingest", stage_context(storage, laps_config, date=date, station=station))
    result = summary.output
    hours = sum(v["duration_sec"] for v in result.videos) / 3600
    return dg.MaterializeResult(
        metadata=rounded(
            {
                "videos": len(result.videos),
                "dagster/row_count": len(result.videos),
                "hours": hours,
                "quarantined": len(result.quarantine),
                "skipped_already_ingested": len(result.skipped_known),
                "drop_reasons": dg.MetadataValue.json(result.drop_reasons()),
                "not_taken": dg.MetadataValue.json(summary.extra["not_taken"]),
                "table": dg.MetadataValue.path(storage.store().uri(summary.keys["videos"])),
                "preview": dg.MetadataValue.md(_preview(result.videos)),
            }
        ),
        check_results=results(videos_checks(storage.store(), date, station)),
    )


@dg.asset(
    partitions_def=date_station,
    group_name="ingest",
    kinds={"parquet"},
    deps=[videos],
    check_specs=CHUNK_CHECKS,
    retry_policy=STORE_RETRY,
    **standard("chunks"),
    metadata=table_metadata(schemas.CHUNKS),
    description="Fixed-length chunks of each video (default 10 min, overlapping by one tracking "
    "window); each chunk owns the windows that start inside it.",
)
def chunks(
    context: dg.AssetExecutionContext, storage: LapsStorage, laps_config: LapsConfig
) -> dg.MaterializeResult:
    date, station = date_and_station(context)
    summary = run_stage("chunks", stage_context(storage, laps_config, date=date, station=station))
    rows = summary.output
    return dg.MaterializeResult(
        metadata=rounded(
            {
                "chunks": len(rows),
                "dagster/row_count": len(rows),
                "windows": sum(r["num_windows"] for r in rows),
                "table": dg.MetadataValue.path(storage.store().uri(summary.keys["chunks"])),
            }
        ),
        check_results=results(chunks_checks(storage.store(), date, station)),
    )


def require_landed(storage: LapsStorage, date: str, station: str) -> None:
    """``dg.Failure`` when no video file landed for (date, station): an empty landing folder or
    a wrong date must not materialize as an empty success (nor overwrite an earlier ingest of
    the partition with no rows). Files there that are not taken are named in the metadata."""
    landing = storage.landing()
    if partition_files(landing, date, station):
        return
    left_out = not_taken(landing, date, station)
    raise dg.Failure(
        description=f"no video landed for {date}/{station} under "
        f"{storage.settings().landing_uri}"
        + (f" ({len(left_out)} file(s) there not taken, see not_taken)" if left_out else ""),
        metadata={"not_taken": dg.MetadataValue.json(left_out[:100])},
        allow_retries=False,
    )


def _preview(rows: list[dict], limit: int = 10) -> str:
    lines = ["| file | duration s | fps | size |", "|---|---|---|---|"]
    for r in rows[:limit]:
        lines.append(
            f"| {r['file_name']} | {r['duration_sec']:.1f} | {r['fps']:.2f} | "
            f"{r['width']}x{r['height']} |"
        )
    return "\n".join(lines)
