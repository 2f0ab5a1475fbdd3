"""Motion assets: point tracks per chunk (CPU optical flow; stage ``tracks``)."""

import dagster as dg

from assets.checks import blocking_specs, results
from assets.ingest import chunks
from assets.metadata import rounded, standard, table_metadata
from assets.partitions import date_and_station, date_station
from assets.resources import LapsConfig, LapsStorage, stage_context
from assets.retries import run_stage
from pipeline.checks import tracks_checks
from pipeline.io import schemas

TRACK_CHECKS = [
    *blocking_specs("tracks", {
        "schema_version": f"the written windows table is at schema version "
        f"{schemas.WINDOWS_VERSION}",
        "unique_windows": "no (video_id, window_index) appears twice",
        "no_nulls": "no null in a non-nullable column of the written windows table",
        "window_index_contiguous": "every video's windows are numbered 0..W-1 with no gap",
        "monotonic_times": "window start times increase and end after they start",
        "every_chunk_tracked": "every chunk of a video that did not fail has the num_windows "
        "windows the chunks table plans (no tail dropped by a short decode)",
    }),
    dg.AssetCheckSpec(
        "every_video_tracked",
        asset="tracks",
        description="no video of the partition failed to decode (a failed one is left out, "
        "listed in the failures table, and the others go on)",
    ),
]  # fmt: skip


@dg.asset(
    partitions_def=date_station,
    group_name="motion",
    kinds={"numpy", "parquet"},
    deps=[chunks],
    check_specs=TRACK_CHECKS,
    **standard("tracks"),
    metadata=table_metadata(schemas.WINDOWS),
    description="A 20x20 grid tracked through every 16-frame window (stride 4) with dense "
    "optical flow shared between overlapping windows; gated (idle) windows kept with their index.",
)
def tracks(
    context: dg.AssetExecutionContext, storage: LapsStorage, laps_config: LapsConfig
) -> dg.MaterializeResult:
    date, station = date_and_station(context)
    store = storage.store()
    summary = run_stage("tracks", stage_context(storage, laps_config, date=date, station=station))
    failed = summary.extra["failed_videos"]
    return dg.MaterializeResult(
        metadata=rounded(
            {
                "windows": summary.rows["windows"],
                "dagster/row_count": summary.rows["windows"],
                **{k: v for k, v in summary.extra.items() if k != "failed_videos"},
                "failed_videos": dg.MetadataValue.json(failed),
                "table": dg.MetadataValue.path(store.uri(summary.keys["windows"])),
            }
        ),
        check_results=[
            *results(tracks_checks(store, date, station)),
            dg.AssetCheckResult(
                check_name="every_video_tracked",
                passed=not failed,
                severity=dg.AssetCheckSeverity.WARN,
                description=f"failed: {', '.join(failed)}" if failed else "all videos tracked",
                metadata={"failed_videos": len(failed)},
            ),
        ],
    )
