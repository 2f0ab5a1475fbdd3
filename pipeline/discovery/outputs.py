"""What the library looks like to consumers, next to the shards (written with the card):

- ``publish/clusters.parquet``: one row per cluster of the library in use, over every segment
  assigned to it (``segment_clusters`` rows of that library version): id, name, size, hours,
  median duration and the exemplars (the members nearest the centroid that have a clip);
- ``publish/gallery/index.html`` (``pipeline.discovery.gallery``): one section per cluster with
  its exemplar clips (copied to ``publish/gallery/clips/<segment_id>.mp4``), keyframe strips
  and instructions, and the embedding map (``publish/gallery/map.png``, the library's);
- ICSS (``pipeline.discovery.icss``): the middle keyframe of up to
  ``icss_samples_per_cluster`` members of each cluster (seeded choice) embedded with CLIP
  (``discovery.icss_clip_model``) or the labelled non-semantic fallback; within-cluster against
  random-pair similarity with bootstrap 95 % intervals. Returned for the card and the asset.
"""

from __future__ import annotations

import logging
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pyarrow as pa

from pipeline.discovery.config import DiscoveryConfig
from pipeline.discovery.library import Library
from pipeline.discovery.stage import current_library
from pipeline.errors import DiscoveryError, StorageKeyError
from pipeline.io import keys, schemas
from pipeline.io.storage import Storage
from pipeline.io.tables import list_partitions, read_partition

log = logging.getLogger(__name__)


def _members(store: Storage, lib: Library) -> list[dict[str, Any]]:
    """Every segment assigned to ``lib``, with its times, clip and instruction."""
    out = []
    for date, station in list_partitions(store, "segment_clusters"):
        cl = read_partition(store, "segment_clusters", date, station)
        seg = read_partition(store, "segments", date, station)
        if cl is None or seg is None:
            continue
        cols = ["segment_id", "video_id", "start_sec", "end_sec", "clip_key"]
        segs = {r["segment_id"]: r for r in seg.select(cols).to_pylist()}
        vids = read_partition(store, "videos", date, station)
        names = {r["video_id"]: r["file_name"] for r in vids.select(
            ["video_id", "file_name"]).to_pylist()} if vids is not None else {}  # fmt: skip
        labels = read_partition(store, "segment_labels", date, station)
        instr = {}
        if labels is not None:
            for r in labels.select(["segment_id", "status", "instruction"]).to_pylist():
                if r["status"] in ("ok", "cached") and r["instruction"]:
                    instr[r["segment_id"]] = r["instruction"]
        for r in cl.to_pylist():
            s = segs.get(r["segment_id"])
            if r["library_version"] != lib.version or s is None:
                continue
            out.append({
                **r, "date": date, "station": station, "start_sec": s["start_sec"],
                "end_sec": s["end_sec"], "clip_key": s["clip_key"],
                "file_name": names.get(s["video_id"], s["video_id"][:12]),
                "instruction": instr.get(r["segment_id"]),
            })  # fmt: skip
    return out


def cluster_rows(lib: Library, members: Sequence[Mapping[str, Any]], exemplars: int) -> list[dict]:  # noqa: E501
    """Rows of ``publish/clusters.parquet`` (``schemas.CLUSTERS``), in library id order."""
    by: dict[int, list[Mapping[str, Any]]] = {int(i): [] for i in lib.ids}
    for m in members:
        by.setdefault(int(m["cluster_id"]), []).append(m)
    rows = []
    for cid in sorted(by):
        ms = by[cid]
        dur = [m["end_sec"] - m["start_sec"] for m in ms]
        near = sorted(
            (m for m in ms if m["clip_key"]), key=lambda m: (m["distance"], m["segment_id"])
        )  # noqa: E501
        rows.append({
            "cluster_id": cid, "cluster_name": lib.name_of(cid), "size": len(ms),
            "hours": round(sum(dur) / 3600, 6),
            "median_duration_sec": round(statistics.median(dur), 4) if dur else None,
            "exemplar_segment_ids": [m["segment_id"] for m in near[:exemplars]],
            "library_version": lib.version,
        })  # fmt: skip
    return rows


def write_library_outputs(store: Storage, cfg: DiscoveryConfig) -> dict[str, Any]:
    """Write the clusters table, the gallery and its exemplar clips; compute ICSS (module doc).
    Returns what the card and the asset show (``{"library_version": None}`` without a
    library)."""
    from pipeline.publish.shards import parquet_bytes

    found = current_library(store) if cfg.enabled else None
    if found is None:
        return {"library_version": None}
    lib, _ = found
    members = _members(store, lib)
    rows = cluster_rows(lib, members, cfg.exemplars)
    table = pa.Table.from_pylist(rows, schema=schemas.CLUSTERS)
    meta = {"library_version": lib.version}
    store.write_bytes(keys.CLUSTERS_KEY, parquet_bytes(table, schemas.CLUSTERS_VERSION, meta))
    by_id = {m["segment_id"]: m for m in members}
    gallery = _write_gallery(store, lib, rows, by_id)
    try:
        report = _icss(store, cfg, members, {r["cluster_id"]: r["cluster_name"] for r in rows})
    except DiscoveryError as exc:  # e.g. a CLIP folder that cannot be loaded
        log.error("ICSS not computed: %s", exc)
        report = {"error": str(exc)}
    total = max(1, len(members))
    return {
        "library_version": lib.version,
        "embedding": lib.embedding,
        "k": lib.k,
        "assigned": len(members),
        "clusters": [
            {
                k: r[k]
                for k in ("cluster_id", "cluster_name", "size", "hours", "median_duration_sec")
            }
            | {"share": r["size"] / total}
            for r in rows
        ],  # fmt: skip
        "gallery": gallery,
        "icss": report,
    }


def _write_gallery(
    store: Storage, lib: Library, rows: Sequence[Mapping], by_id: Mapping[str, Mapping]
) -> str:  # noqa: E501
    from pipeline.discovery.gallery import GalleryCluster, GalleryExemplar, gallery_html
    from pipeline.discovery.keyframes import jpeg_bytes, keyframes, strip

    store.delete_prefix(f"{keys.GALLERY_PREFIX}/clips/")  # exemplars of an older library go
    total = max(1, sum(r["size"] for r in rows))
    clusters = []
    for r in rows:
        exemplars = []
        for sid in r["exemplar_segment_ids"]:
            m = by_id[sid]
            href, strip_jpeg = None, None
            try:
                clip = store.read_bytes(m["clip_key"])
                store.write_bytes(keys.gallery_clip_key(sid), clip)
                href = f"clips/{sid}.mp4"
                strip_jpeg = jpeg_bytes(strip(keyframes(clip, 4, max_side=240), height=90))
            except (StorageKeyError, DiscoveryError) as exc:
                log.warning("gallery: exemplar %s without media: %s", sid, exc)
            exemplars.append(GalleryExemplar(
                segment_id=sid, video=m["file_name"], start_sec=m["start_sec"],
                end_sec=m["end_sec"], distance=float(m["distance"]), clip_href=href,
                strip_jpeg=strip_jpeg, instruction=m["instruction"],
            ))  # fmt: skip
        clusters.append(GalleryCluster(
            cluster_id=r["cluster_id"], name=r["cluster_name"], size=r["size"],
            hours=r["hours"], median_duration_s=r["median_duration_sec"] or 0.0,
            share=r["size"] / total, exemplars=exemplars,
        ))  # fmt: skip
    map_key = keys.library_key(lib.version, "map.png")
    map_png = store.read_bytes(map_key) if store.exists(map_key) else None
    if map_png is not None:
        store.write_bytes(keys.GALLERY_MAP_KEY, map_png)
    html = gallery_html(
        clusters, title=f"Primitive library {lib.version}", map_png=map_png,
        summary={"library": lib.version, "embedding": lib.embedding, "clusters": str(lib.k),
                 "segments assigned": str(total), "fitted on": f"{lib.fit_segments} segments"},
    )  # fmt: skip
    store.write_bytes(keys.GALLERY_KEY, html.encode("utf-8"))
    return keys.GALLERY_KEY


def _icss(
    store: Storage,
    cfg: DiscoveryConfig,
    members: Sequence[Mapping],
    names: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """ICSS over keyframes of up to ``icss_samples_per_cluster`` clips per cluster; the card's
    table shows each cluster's ``names`` entry beside its id."""
    from pipeline.discovery.icss import icss, image_embedder
    from pipeline.discovery.keyframes import keyframes

    rng = np.random.default_rng(cfg.seed)
    by: dict[int, list[Mapping]] = {}
    for m in sorted(members, key=lambda m: m["segment_id"]):
        if m["clip_key"]:
            by.setdefault(int(m["cluster_id"]), []).append(m)
    images, labels = [], []
    for cid in sorted(by):
        ms = by[cid]
        pick = rng.choice(len(ms), size=min(len(ms), cfg.icss_samples_per_cluster), replace=False)
        for i in sorted(pick.tolist()):
            try:
                frames = keyframes(store.read_bytes(ms[i]["clip_key"]), 1, max_side=448)
            except (StorageKeyError, DiscoveryError) as exc:
                log.warning("ICSS: segment %s skipped: %s", ms[i]["segment_id"], exc)
                continue
            if frames:
                images.append(frames[0])
                labels.append(cid)
    embedder = image_embedder(cfg.icss_clip_model)
    emb = embedder.embed(images) if images else np.zeros((0, 2), np.float32)
    report = icss(emb, np.asarray(labels, np.int64), embedder=embedder.name,
                  semantic=embedder.semantic, seed=cfg.seed)  # fmt: skip
    out = report.to_dict()
    out["markdown"] = report.markdown(names=names)
    return out
