"""Motion assets: point tracks per chunk (CPU optical flow)."""

import dagster as dg

from assets.ingest import chunks
from assets.partitions import date_and_station, date_station
from assets.resources import LapsConfig, LapsStorage
from pipeline.motion_stages import track_partition
from pipeline.tables import read_partition

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
    summary = track_partition(
        store,
        date,
        station,
        video=laps_config.video(),
        windows=laps_config.windows(),
        tracking=laps_config.tracking(),
        on_chunk=lambda n, total: context.log.info(f"tracked chunk {n}/{total}"),
    )
    table = read_partition(store, "windows", date, station)
    contiguous, monotonic = _check_windows(table.to_pylist() if table is not None else [])
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


def _check_windows(rows: list[dict]) -> tuple[bool, bool]:
    by_video: dict[str, list[dict]] = {}
    for r in rows:
        by_video.setdefault(r["video_id"], []).append(r)
    contiguous = monotonic = True
    for vrows in by_video.values():
        idx = sorted(r["window_index"] for r in vrows)
        contiguous &= idx == list(range(len(idx)))
        vrows.sort(key=lambda r: r["window_index"])
        starts = [r["start_sec"] for r in vrows]
        monotonic &= all(a < b for a, b in zip(starts, starts[1:], strict=False))
        monotonic &= all(r["start_sec"] < r["end_sec"] for r in vrows)
    return bool(contiguous), bool(monotonic)
