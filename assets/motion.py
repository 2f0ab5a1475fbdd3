"""Motion assets: point tracks per chunk (CPU optical flow; stage ``tracks``)."""

import dagster as dg

from assets.ingest import chunks
from assets.partitions import date_and_station, date_station
from assets.resources import LapsConfig, LapsStorage, stage_context
from pipeline.quality import check_window_rows
from pipeline.stages import run_stage

TRACK_CHECKS = [
    dg.AssetCheckSpec(
        "window_index_contiguous",
        asset="tracks",
        description="every video's windows are numbered 0..W-1 with no gap",
    ),
    dg.AssetCheckSpec(
        "monotonic_times",
        asset="tracks",
        description="window start times increase and end after they start",
    ),
]


@dg.asset(
    partitions_def=date_station,
    group_name="motion",
    kinds={"numpy", "parquet"},
    deps=[chunks],
    check_specs=TRACK_CHECKS,
    code_version="1",
    description="A 20x20 grid tracked through every 16-frame window (stride 4) with dense "
    "optical flow shared between overlapping windows; gated (idle) windows kept with their index.",
)
def tracks(
    context: dg.AssetExecutionContext, storage: LapsStorage, laps_config: LapsConfig
) -> dg.MaterializeResult:
    date, station = date_and_station(context)
    store = storage.store()
    summary = run_stage("tracks", stage_context(storage, laps_config, date=date, station=station))
    rows = summary.output
    contiguous, monotonic = check_window_rows(rows)
    return dg.MaterializeResult(
        metadata={
            "windows": summary.rows["windows"],
            **summary.extra,
            "table": dg.MetadataValue.path(store.uri(summary.keys["windows"])),
        },
        check_results=[
            dg.AssetCheckResult(check_name="window_index_contiguous", passed=contiguous),
            dg.AssetCheckResult(check_name="monotonic_times", passed=monotonic),
        ],
    )
