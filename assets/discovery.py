"""Discovery assets: the primitive library (store-wide) and each partition's cluster
assignments (``pipeline.stages`` stages ``library`` and ``clusters``).

``primitive_library`` is fitted once (``fit_library_job``, or ``laps segment``) and reused
while it fits the config; nightly partition runs only assign their segments to it
(``segment_clusters``), so cluster ids never change under a consumer. A refit
(``discovery.refit``) keeps the id of every cluster it can match (Hungarian on centroids).
"""

import dagster as dg

from assets.metadata import rounded, standard, table_metadata
from assets.partitions import date_and_station, date_station
from assets.resources import LapsConfig, LapsStorage, stage_context
from assets.retries import run_stage
from assets.tokenizer import embedded_png
from pipeline.io import schemas


@dg.asset(
    group_name="library",
    kinds={"scikitlearn"},
    deps=["segments", "segment_labels"],
    **standard("library"),
    description="The primitive library: k-means (cosine) on segment embeddings of every "
    "stored segment, k chosen by silhouette, seeded; reused while it fits the config. "
    "Cluster ids are kept across refits (Hungarian matching on centroids).",
)
def primitive_library(
    context: dg.AssetExecutionContext, storage: LapsStorage, laps_config: LapsConfig
) -> dg.MaterializeResult:
    summary = run_stage("library", stage_context(storage, laps_config))
    info = summary.extra
    context.log.info(f"primitive library: {info['decision']}")
    store = storage.store()
    if not info.get("library_version"):
        return dg.MaterializeResult(metadata=rounded({"decision": info["decision"]}))
    meta = {
        "library_version": info["library_version"],
        "decision": info["decision"],
        "fitted": info["fitted"],
        "embedding": info["embedding"],
        "k": info["k"],
        "silhouette": info["silhouette"],
        "silhouettes": dg.MetadataValue.json(info["silhouettes"]),
        "fit_segments": info["fit_segments"],
        "sizes": dg.MetadataValue.json(info["sizes"]),
        "library": dg.MetadataValue.path(store.uri(summary.keys["library"])),
    }
    if info["id_mapping"]:
        meta["id_mapping"] = dg.MetadataValue.json(info["id_mapping"])
    if store.exists(summary.keys["map"]):
        meta["map"] = dg.MetadataValue.path(store.uri(summary.keys["map"]))
        meta["map_image"] = dg.MetadataValue.md(
            embedded_png(store.read_bytes(summary.keys["map"]), "embedding map")
        )
    return dg.MaterializeResult(
        metadata=rounded(meta), data_version=dg.DataVersion(info["library_version"])
    )


@dg.asset(
    partitions_def=date_station,
    group_name="discovery",
    kinds={"parquet"},
    deps=["segments", primitive_library],
    **standard("clusters"),
    metadata=table_metadata(schemas.SEGMENT_CLUSTERS),
    check_specs=[
        dg.AssetCheckSpec(
            "every_segment_assigned",
            asset="segment_clusters",
            description="every segment of the partition has a cluster of the library in use "
            "(fails when no library is fitted yet: run fit_library_job)",
        )
    ],
    description="Each segment's nearest primitive cluster (segment_id, cluster_id, "
    "cluster_name, cosine distance, library_version).",
)
def segment_clusters(
    context: dg.AssetExecutionContext, storage: LapsStorage, laps_config: LapsConfig
) -> dg.MaterializeResult:
    date, station = date_and_station(context)
    summary = run_stage("clusters", stage_context(storage, laps_config, date=date, station=station))
    info = summary.extra
    segments = info["segments"]
    ok = info["library_version"] is not None and info["assigned"] == segments
    meta = {
        "library_version": info["library_version"] or "none",
        "assigned": info["assigned"],
        "dagster/row_count": info["assigned"],
    }
    if info.get("reason"):
        meta["reason"] = info["reason"]
        context.log.warning(f"{date}/{station}: no clusters assigned: {info['reason']}")
    if info.get("counts"):
        meta["counts"] = dg.MetadataValue.json(info["counts"])
        meta["mean_distance"] = info["mean_distance"]
    return dg.MaterializeResult(
        metadata=rounded(meta),
        check_results=[
            dg.AssetCheckResult(
                check_name="every_segment_assigned",
                passed=bool(ok),
                # no library yet is expected on a new deployment (a warning); a library that
                # leaves segments unassigned is an error
                severity=dg.AssetCheckSeverity.WARN
                if info["library_version"] is None
                else dg.AssetCheckSeverity.ERROR,
                description=info.get("reason")
                or f"{info['assigned']} of {segments} segments assigned",
                metadata={"assigned": info["assigned"], "segments": segments},
            )
        ],
    )
