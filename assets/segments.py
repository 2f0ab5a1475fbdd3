"""Segmentation assets: Latent Action Energy per window, action-primitive segments (table and
segment files), and one H.264 clip per segment; computed together by one step."""

import tempfile
from pathlib import Path

import dagster as dg

from assets.partitions import date_and_station, date_station
from assets.resources import LapsStorage
from assets.tokenizer import latent_codes
from pipeline.io.storage import Storage
from pipeline.io.tables import read_partition, read_table
from pipeline.quality import check_segment_rate, segment_rate
from pipeline.segments.config import SegmentationConfig
from pipeline.segments.plots import plot_energy
from pipeline.segments.stage import segment_partition


class SegmentationSettings(dg.ConfigurableResource):
    """Which segmenter runs and whether clips are cut (defaults: pipeline SegmentationConfig)."""

    method: str = SegmentationConfig().method
    max_len_sec: float = 0.0  # 0 = no cap on hysteresis segments
    conveyor_filter: bool = SegmentationConfig().conveyor_filter  # off: keep one-way motion
    write_clips: bool = True

    def config(self) -> SegmentationConfig:
        return SegmentationConfig(
            method=self.method,
            max_len_sec=self.max_len_sec or None,
            conveyor_filter=self.conveyor_filter,
        )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            "energy",
            deps=[latent_codes],
            group_name="segmentation",
            kinds={"parquet"},
            description="Per window: Latent Action Energy (quantized and pre-quantization "
            "latents), track speed, flow magnitude, pixel difference, the EMA the "
            "segmenter uses and the station's label-free thresholds.",
        ),
        dg.AssetSpec(
            "segments",
            deps=["energy"],
            group_name="segmentation",
            kinds={"parquet"},
            description="Action-primitive segments: exact source frames and seconds, "
            "deterministic segment_id, per-step code sequence, mean/peak energy; plus "
            "<stem>.segments.json per video.",
        ),
        dg.AssetSpec(
            "segment_clips",
            deps=["segments"],
            group_name="segmentation",
            kinds={"video"},
            description="One H.264 clip per segment, cut from the source at its native "
            "frame rate and size.",
        ),
    ],
    partitions_def=date_station,
    check_specs=[
        dg.AssetCheckSpec(
            "segment_rate_in_usual_range",
            asset="segments",
            description="segments per minute of video stay inside the station's "
            "usual range (median +- 4 robust deviations of earlier dates)",
        ),
    ],
    can_subset=False,
)
def segmentation(
    context: dg.AssetExecutionContext, storage: LapsStorage, segmentation: SegmentationSettings
):
    date, station = date_and_station(context)
    store = storage.store()
    cfg = segmentation.config()
    summary = segment_partition(
        store,
        date,
        station,
        cfg,
        write_clips=segmentation.write_clips,
        on_video=lambda n, total, name: context.log.info(f"segmented {name} ({n}/{total})"),
    )
    videos = read_partition(store, "videos", date, station)
    seconds = sum(videos.column("duration_sec").to_pylist()) if videos is not None else 0.0
    n_seg = summary.rows["segments"]
    plots = _energy_plots(store, date, station)
    yield dg.MaterializeResult(
        asset_key="energy",
        metadata={
            "windows": summary.rows["energy"],
            "thr_on": float(summary.extra["thr_on"]),
            "thr_off": float(summary.extra["thr_off"]),
            "tokenizer_version": summary.extra["tokenizer_version"],
            **({"energy_plot": dg.MetadataValue.path(plots[0])} if plots else {}),
            "energy_plots": dg.MetadataValue.json(plots),
        },
    )
    yield dg.MaterializeResult(
        asset_key="segments",
        metadata={
            "segments": n_seg,
            "segments_per_minute": round(segment_rate(n_seg, seconds), 3),
            "segmenter": summary.extra["segmenter"],
            "segment_files": dg.MetadataValue.json(summary.extra["segment_files"]),
            "belt_filter": dg.MetadataValue.json(summary.extra["belt_filter"]),
            "table": dg.MetadataValue.path(store.uri(summary.keys["segments"])),
        },
    )
    yield dg.MaterializeResult(
        asset_key="segment_clips",
        metadata={"clips": dg.MetadataValue.json(summary.extra["clips"])},
    )
    check = check_segment_rate(n_seg, seconds, _rate_history(store, station, before=date))
    yield dg.AssetCheckResult(
        asset_key="segments",
        check_name="segment_rate_in_usual_range",
        passed=check.passed,
        severity=dg.AssetCheckSeverity.WARN,
        description=check.description,
        metadata={"rate": check.rate, "history_partitions": check.history},
    )


def _rate_history(store: Storage, station: str, *, before: str) -> list[float]:
    """Segments per minute of the station's earlier dates."""
    segs, vids = (
        read_table(store, "segments", station=station),
        read_table(store, "videos", station=station),
    )
    if segs is None or vids is None:
        return []
    counts: dict[str, int] = {}
    for d in segs.column("date").to_pylist():
        counts[d] = counts.get(d, 0) + 1
    seconds: dict[str, float] = {}
    for d, s in zip(
        vids.column("date").to_pylist(), vids.column("duration_sec").to_pylist(), strict=True
    ):
        seconds[d] = seconds.get(d, 0.0) + s
    return [segment_rate(counts.get(d, 0), s) for d, s in sorted(seconds.items()) if d < before]


def _energy_plots(store: Storage, date: str, station: str, limit: int = 20) -> list[str]:
    """One energy PNG per video (energy, EMA, thresholds, predicted boundaries) in the store."""
    energy = read_partition(store, "energy", date, station)
    segs = read_partition(store, "segments", date, station)
    videos = read_partition(store, "videos", date, station)
    if energy is None or videos is None:
        return []
    bounds: dict[str, list[float]] = {}
    for s in segs.to_pylist() if segs is not None else []:
        bounds.setdefault(s["video_id"], []).extend([s["start_sec"], s["end_sec"]])
    rows: dict[str, list[dict]] = {}
    for r in energy.to_pylist():
        rows.setdefault(r["video_id"], []).append(r)
    out = []
    for v in videos.to_pylist()[:limit]:
        er = sorted(rows.get(v["video_id"], []), key=lambda r: r["window_index"])
        if not er:
            continue
        stem = Path(v["file_name"]).stem
        key = f"plots/date={date}/station={station}/{stem}.energy.png"
        with tempfile.TemporaryDirectory() as tmp:
            png = plot_energy(
                Path(tmp) / "e.png",
                [r["center_sec"] for r in er],
                [r["lae"] for r in er],
                [r["lae_smoothed"] for r in er],
                er[0]["thr_on"],
                er[0]["thr_off"],
                pred_boundaries=sorted(set(bounds.get(v["video_id"], []))),
                title=stem,
            )
            store.write_bytes(key, png.read_bytes())
        out.append(store.uri(key))
    return out
