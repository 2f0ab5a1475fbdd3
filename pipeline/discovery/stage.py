"""The discovery stages: fit (or reuse) the primitive library, assign each partition's segments.

- ``library_stage`` (store-wide): the library in use is reused while it fits the config (same
  embedding and fit settings; for the latent embeddings also the same tokenizer). Otherwise, or
  with ``refit``, a new library is fitted on every stored segment (at most
  ``max_fit_segments``, the same share from every partition) with ids carried over from the
  previous one (``pipeline.discovery.library``). Clusters are named from the members' language
  labels when any exist (``pipeline.language.naming``), else ``primitive_00``, ... . Files:
  ``models/primitive_library/<version>/library.npz``, ``library.json``, ``encoder.pt`` (the
  frozen encoder of ``latent_transformer``), ``map.png``; ``current.json`` is written last.
- ``cluster_partition`` (per date x station): each segment's nearest centroid, as a
  ``segment_clusters`` partition. Without a library (none fitted yet, or fewer than two
  segments in the store) nothing is assigned and the summary says why; the publish stage
  then leaves the cluster fields null.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np

from pipeline.context import StageSummary
from pipeline.discovery.config import DiscoveryConfig
from pipeline.discovery.embeddings import (
    EmbedContext,
    SegmentItem,
    VideoSteps,
    embed,
    step_descriptors,
)
from pipeline.discovery.library import Library, fit_library, stratified_sample
from pipeline.errors import DiscoveryError
from pipeline.io import keys, schemas
from pipeline.io.storage import Storage
from pipeline.io.tables import list_partitions, read_partition, read_table, write_partition

log = logging.getLogger(__name__)

LATENT_EMBEDDINGS = ("latent_transformer", "code_bag")
SMALL_FIT = 200  # fewer fit segments than this: the library is provisional (a warning says so)


def load_items(
    store: Storage, partitions: Iterable[tuple[str, str]] | None = None
) -> list[SegmentItem]:  # noqa: E501
    """The segments of the given partitions (default: all), sorted by partition, video, start."""
    parts = sorted(partitions) if partitions is not None else list_partitions(store, "segments")
    items: list[SegmentItem] = []
    for date, station in parts:
        t = read_partition(store, "segments", date, station)
        if t is None:
            continue
        cols = ["segment_id", "video_id", "start_sec", "end_sec", "codes", "fsq_levels",
                "codebook_size", "tokenizer_version"]  # fmt: skip
        for r in sorted(t.select(cols).to_pylist(), key=lambda r: (r["video_id"], r["start_sec"])):
            items.append(
                SegmentItem(
                    segment_id=r["segment_id"],
                    video_id=r["video_id"],
                    date=date,
                    station=station,
                    start_sec=float(r["start_sec"]),
                    end_sec=float(r["end_sec"]),
                    codes=np.asarray(r["codes"], np.int64),
                    fsq_levels=tuple(r["fsq_levels"]),
                    codebook_size=int(r["codebook_size"]),
                    tokenizer_version=r["tokenizer_version"],
                )  # fmt: skip
            )
    return items


def partition_steps(
    store: Storage, date: str, station: str, video_ids: set[str]
) -> dict[str, VideoSteps]:  # noqa: E501
    """Per-step track descriptors (``embeddings.step_descriptors``) of some videos of one
    partition, from their stored tracks (the segmentation stage's motion features)."""
    from pipeline.segments.config import SegmentationConfig
    from pipeline.segments.motion import motion_features, step_velocities
    from pipeline.segments.signals import build_signals
    from pipeline.tracks.store import load_tracks

    seg_cfg = SegmentationConfig()
    tables = {t: read_partition(store, t, date, station) for t in ("videos", "windows", "codes")}
    if any(v is None for v in tables.values()):
        raise DiscoveryError(f"{date}/{station}: videos, windows or codes missing")
    rows: dict[str, dict[str, list[dict]]] = {}
    for name in ("windows", "codes"):
        for row in tables[name].to_pylist():  # type: ignore[union-attr]
            if row["video_id"] in video_ids:
                rows.setdefault(row["video_id"], {"windows": [], "codes": []})[name].append(row)
    out: dict[str, VideoSteps] = {}
    for video in tables["videos"].to_pylist():  # type: ignore[union-attr]
        vid = video["video_id"]
        if vid not in rows:
            continue
        win = rows[vid]["windows"]
        stride = int(win[0]["stride_frames"]) if win else 1

        def parts(keys_: Sequence[str] = sorted({w["tracks_key"] for w in win})):
            for key in keys_:
                with store.local_path(key) as path:
                    yield load_tracks(path)

        steps = step_velocities(parts(), stride=stride)
        motion = motion_features(
            steps, smooth_steps=seg_cfg.motion_smooth_steps, conveyor_filter=seg_cfg.conveyor_filter
        )
        sig = build_signals(video, win, rows[vid]["codes"], motion=motion)
        out[vid] = step_descriptors(
            steps.velocities, motion.point_weight, motion.motion, motion.occlusion,
            grid_size=int(win[0]["grid_size"]) if win else 0, times=sig.step_times(),
            window_centres=sig.centre_sec, track_speed=np.where(sig.gated, 0.0, sig.stats["track_speed"]),  # noqa: E501
            flow_magnitude=np.where(sig.gated, 0.0, sig.stats["flow_magnitude"]),
        )  # fmt: skip
    return out


def embed_items(
    store: Storage, items: Sequence[SegmentItem], embedding: str, ctx: EmbedContext
) -> np.ndarray:
    """Embeddings of ``items`` (loading the track descriptors ``motion_summary`` needs)."""
    if embedding == "motion_summary":
        by_part: dict[tuple[str, str], set[str]] = {}
        for it in items:
            by_part.setdefault((it.date, it.station), set()).add(it.video_id)
        steps: dict[str, VideoSteps] = {}
        for (date, station), vids in sorted(by_part.items()):
            steps.update(partition_steps(store, date, station, vids))
        ctx.steps = steps
    return embed(embedding, items, ctx)


def current_library(store: Storage) -> tuple[Library, dict[str, Any] | None] | None:
    """The library in use and its encoder state (None before the first fit)."""
    if not store.exists(keys.LIBRARY_CURRENT):
        return None
    version = json.loads(store.read_bytes(keys.LIBRARY_CURRENT))["version"]
    lib = Library.from_files(
        store.read_bytes(keys.library_key(version, "library.npz")),
        store.read_bytes(keys.library_key(version, "library.json")),
    )
    enc_key = keys.library_key(version, "encoder.pt")
    state = None
    if store.exists(enc_key):
        from pipeline.tokens.segment_encoder import encoder_state_from_bytes

        state = encoder_state_from_bytes(store.read_bytes(enc_key))
    return lib, state


def _tokenizer_version(items: Sequence[SegmentItem]) -> str | None:
    versions = {it.tokenizer_version for it in items if it.tokenizer_version}
    if len(versions) > 1:
        log.warning("segments of %d tokenizer versions in the store: %s", len(versions),
                    sorted(versions))  # fmt: skip
    return sorted(versions)[-1] if versions else None


def reuse_reason(
    lib: Library | None, cfg: DiscoveryConfig, tokenizer_version: str | None
) -> str | None:  # noqa: E501
    """Why ``lib`` cannot be reused for ``cfg`` (None: it can)."""
    if lib is None:
        return "no library yet"
    if cfg.refit:
        return "refit requested"
    if lib.embedding != cfg.embedding:
        return f"embedding changed ({lib.embedding} -> {cfg.embedding})"
    if lib.config_fingerprint != cfg.fit_fingerprint():
        return "fit settings changed"
    if cfg.embedding in LATENT_EMBEDDINGS and lib.tokenizer_version != tokenizer_version:
        return f"tokenizer changed ({lib.tokenizer_version} -> {tokenizer_version})"
    return None


def library_stage(
    store: Storage, cfg: DiscoveryConfig, *, progress: Callable[[str, int, int], None] | None = None
) -> StageSummary:
    if not cfg.enabled:
        return StageSummary(extra={"library_version": None, "decision": "discovery disabled"})
    items = load_items(store)
    tok = _tokenizer_version(items)
    found = current_library(store)
    previous = found[0] if found is not None else None
    reason = reuse_reason(previous, cfg, tok)
    if reason is None and previous is not None:
        log.info("primitive library %s reused (%d clusters)", previous.version, previous.k)
        return _summary(
            previous, fitted=False, decision="reused: fits the config", segments=len(items)
        )  # noqa: E501
    if len(items) < 2:
        log.warning("no primitive library: %d segment(s) in the store", len(items))
        return StageSummary(extra={
            "library_version": None, "decision": f"not fitted: {len(items)} segment(s) stored",
            "fitted": False, "segments": len(items),
        })  # fmt: skip
    groups = [f"{it.date}/{it.station}" for it in items]
    pick = stratified_sample(groups, cfg.max_fit_segments, seed=cfg.seed)
    sample = [items[i] for i in pick]
    log.info("fitting the primitive library on %d of %d segments (%s; %s)", len(sample),
             len(items), cfg.embedding, reason)  # fmt: skip
    ctx = EmbedContext(seed=cfg.seed)
    x = embed_items(store, sample, cfg.embedding, ctx)

    def on_k(done: int, total: int) -> None:
        if progress is not None:
            progress("clustering", done, total)

    try:
        lib, ids = fit_library(
            x, embedding=cfg.embedding, config_fingerprint=cfg.fit_fingerprint(),
            k_min=cfg.k_min, k_max=cfg.k_max, n_init=cfg.n_init, seed=cfg.seed,
            previous=previous, progress=on_k, min_cluster_segments=cfg.min_cluster_segments,
            silhouette_tolerance=cfg.silhouette_tolerance,
        )  # fmt: skip
    except DiscoveryError as exc:  # too little to cluster: the run goes on without a library
        log.warning("no primitive library fitted: %s", exc)
        if previous is not None:
            return _summary(previous, fitted=False, decision=f"kept: a refit failed ({exc})",
                            segments=len(items))  # fmt: skip
        return StageSummary(extra={"library_version": None, "decision": f"not fitted: {exc}",
                                   "fitted": False, "segments": len(items)})  # fmt: skip
    lib.tokenizer_version = tok
    lib.names = cluster_names(store, [it.segment_id for it in sample], ids, lib.ids)
    version = lib.version
    arrays, meta = lib.to_files()
    store.write_bytes(keys.library_key(version, "library.npz"), arrays)
    store.write_bytes(keys.library_key(version, "library.json"), meta)
    if ctx.encoder_state is not None:
        from pipeline.tokens.segment_encoder import encoder_state_bytes

        store.write_bytes(
            keys.library_key(version, "encoder.pt"), encoder_state_bytes(ctx.encoder_state)
        )  # noqa: E501
    map_key = keys.library_key(version, "map.png")
    store.write_bytes(map_key, _map_png(lib, x, ids))
    store.write_bytes(keys.LIBRARY_CURRENT, json.dumps({"version": version}).encode())
    log.info("primitive library %s: k=%d (silhouette %.3f), %s", version, lib.k,
             lib.silhouettes.get(lib.k, float("nan")), reason)  # fmt: skip
    if lib.fit_segments < SMALL_FIT:
        log.warning("primitive library %s was fitted on only %d segments; refit it "
                    "(discovery.refit) when more video is in, then reassign the partitions "
                    "(clusters and publish)", version, lib.fit_segments)  # fmt: skip
    return _summary(lib, fitted=True, decision=f"fitted: {reason}", segments=len(items))


def _map_png(lib: Library, x: np.ndarray, ids: np.ndarray) -> bytes:
    from pipeline.discovery.gallery import embedding_map_png

    names = {i: lib.name_of(i) for i in lib.ids}
    return embedding_map_png(
        lib.unit(x), ids, names, title=f"primitive library {lib.version} ({lib.embedding}, "
        f"{len(ids)} segments)", seed=0,
    )  # fmt: skip


def _summary(lib: Library, *, fitted: bool, decision: str, segments: int) -> StageSummary:
    version = lib.version
    return StageSummary(
        keys={
            "library": keys.library_key(version, "library.json"),
            "map": keys.library_key(version, "map.png"),
        },  # fmt: skip
        extra={
            "library_version": version,
            "fitted": fitted,
            "decision": decision,
            "embedding": lib.embedding,
            "k": lib.k,
            "silhouette": lib.silhouettes.get(lib.k),
            "silhouettes": {str(k): v for k, v in sorted(lib.silhouettes.items())},
            "fit_segments": lib.fit_segments,
            "segments": segments,
            "sizes": {lib.name_of(i): lib.fit_sizes.get(i, 0) for i in lib.ids},
            "id_mapping": lib.id_mapping,
            "previous_version": lib.previous_version,
            "provisional": lib.fit_segments < SMALL_FIT,
        },
    )


def cluster_names(
    store: Storage, segment_ids: Sequence[str], ids: np.ndarray, cluster_ids: Sequence[int]
) -> dict[int, str]:  # noqa: E501
    """Names from the members' language labels (majority verb), ``primitive_XX`` without."""
    from pipeline.language.naming import name_clusters

    verbs: dict[str, str | None] = {}
    labels = read_table(store, "segment_labels")
    if labels is not None and labels.num_rows:
        for r in labels.select(["segment_id", "verb"]).to_pylist():
            if r["verb"]:
                verbs[r["segment_id"]] = r["verb"]
    cluster_of = {sid: int(c) for sid, c in zip(segment_ids, ids, strict=True)}
    return name_clusters(cluster_of, verbs, list(cluster_ids))


def cluster_partition(
    store: Storage, date: str, station: str, cfg: DiscoveryConfig
) -> StageSummary:  # noqa: E501
    """Assign one partition's segments to the library in use (module doc)."""
    if not cfg.enabled:
        return StageSummary(extra={"library_version": None, "assigned": 0, "segments": 0,
                                   "reason": "discovery disabled"})  # fmt: skip
    found = current_library(store)
    items = load_items(store, [(date, station)])
    if found is None:
        return StageSummary(extra={"library_version": None, "assigned": 0,
                                   "segments": len(items),
                                   "reason": "no primitive library fitted yet"})  # fmt: skip
    lib, state = found
    if lib.embedding in LATENT_EMBEDDINGS:
        tok = _tokenizer_version(items) if items else lib.tokenizer_version
        if tok != lib.tokenizer_version:
            raise DiscoveryError(
                f"{date}/{station}: segments are of tokenizer {tok}, the library {lib.version} "
                f"of {lib.tokenizer_version}: refit the library (the library stage)"
            )
    ctx = EmbedContext(encoder_state=state, seed=cfg.seed)
    x = embed_items(store, items, lib.embedding, ctx) if items else np.zeros((0, lib.mean.size))
    ids, dist = lib.assign(x)
    rows = [
        {"segment_id": it.segment_id, "cluster_id": int(c), "cluster_name": lib.name_of(int(c)),
         "distance": float(d), "library_version": lib.version, "embedding": lib.embedding}
        for it, c, d in zip(items, ids, dist, strict=True)
    ]  # fmt: skip
    key = write_partition(
        store, "segment_clusters", date, station, rows, schema=schemas.SEGMENT_CLUSTERS,
        schema_version=schemas.SEGMENT_CLUSTERS_VERSION,
        metadata={"library_version": lib.version, "embedding": lib.embedding},
    )  # fmt: skip
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["cluster_name"]] = counts.get(r["cluster_name"], 0) + 1
    return StageSummary(
        rows={"segment_clusters": len(rows)},
        keys={"segment_clusters": key},
        extra={
            "library_version": lib.version,
            "assigned": len(rows),
            "segments": len(items),
            "counts": counts,
            "mean_distance": float(dist.mean()) if dist.size else None,
        },  # fmt: skip
        output=rows,
    )
