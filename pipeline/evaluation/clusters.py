"""Cluster quality against true primitive labels (issue 13 item 7, ``laps eval-clusters``).

Each *predicted* segment of the store takes the true label it overlaps most in its video's
ground-truth file (``<gt>/<stem>.segments.json``; ``idle`` is a label like the others). For
every embedding the segments are embedded, standardised and L2-normalised as the library does,
then clustered twice: with the library's automatic k (silhouette over ``[k_min, k_max]``) and
with k = the number of true labels among the segments. Scores: NMI, ARI and purity (each
cluster counts its most common true label as right).
"""

from __future__ import annotations

import logging
import math
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline.discovery.config import DiscoveryConfig
from pipeline.discovery.embeddings import EMBEDDINGS, EmbedContext, SegmentItem
from pipeline.discovery.library import fit_library
from pipeline.discovery.stage import embed_items, load_items
from pipeline.errors import EvaluationError, SegmentFileError
from pipeline.io.keys import SEGMENT_SUFFIX, store_video_stems
from pipeline.io.storage import Storage
from pipeline.io.tables import read_table

log = logging.getLogger(__name__)


def true_labels(store: Storage, gt_dir: Path, items: Sequence[SegmentItem]) -> list[str | None]:
    """The most-overlapping true label of each item (None: its video has no ground truth)."""
    from pipeline.segments.segfile import read_segments

    videos = read_table(store, "videos")
    if videos is None:
        raise EvaluationError(f"{store.root}: no videos table")
    stems = store_video_stems(
        videos.select(["video_id", "file_name", "date", "station"]).to_pylist()
    )
    cache: dict[str, Any] = {}
    out: list[str | None] = []
    for it in items:
        if it.video_id not in cache:
            path = gt_dir / f"{stems.get(it.video_id, it.video_id)}{SEGMENT_SUFFIX}"
            try:
                cache[it.video_id] = read_segments(path).segments if path.exists() else None
            except SegmentFileError as exc:
                raise EvaluationError(f"ground truth {path}: {exc}") from exc
        gt = cache[it.video_id]
        if gt is None:
            out.append(None)
            continue
        best, best_overlap = None, 0.0
        for s in gt:
            ov = min(s.end_sec, it.end_sec) - max(s.start_sec, it.start_sec)
            if ov > best_overlap:
                best, best_overlap = s.label or "unlabelled", ov
        out.append(best)
    return out


def purity(truth: Sequence[str], pred: Sequence[int]) -> float:
    by: dict[int, Counter] = {}
    for t, p in zip(truth, pred, strict=True):
        by.setdefault(int(p), Counter())[t] += 1
    return sum(c.most_common(1)[0][1] for c in by.values()) / max(1, len(truth))


def scores(truth: Sequence[str], pred: Sequence[int]) -> dict[str, float]:
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    return {
        "nmi": round(float(normalized_mutual_info_score(truth, pred)), 4),
        "ari": round(float(adjusted_rand_score(truth, pred)), 4),
        "purity": round(purity(truth, pred), 4),
    }


def evaluate_clusters(
    store: Storage,
    gt_dir: Path,
    *,
    cfg: DiscoveryConfig | None = None,
    embeddings: Sequence[str] = EMBEDDINGS,
) -> dict[str, Any]:
    """Scores per embedding (module doc): ``{"segments", "labels", "rows": [...]}``."""
    from sklearn.cluster import KMeans

    cfg = cfg or DiscoveryConfig()
    if not gt_dir.is_dir():
        raise EvaluationError(f"ground-truth folder not found: {gt_dir}")
    items = load_items(store)
    labels = true_labels(store, gt_dir, items)
    keep = [i for i, lab in enumerate(labels) if lab is not None]
    if len(keep) < 3:
        raise EvaluationError(f"only {len(keep)} predicted segments have ground truth in {gt_dir}")
    items = [items[i] for i in keep]
    truth = [str(labels[i]) for i in keep]
    k_true = len(set(truth))
    rows = []
    for name in embeddings:
        x = embed_items(store, items, name, EmbedContext(seed=cfg.seed))
        lib, ids = fit_library(
            x, embedding=name, config_fingerprint=cfg.fit_fingerprint(), k_min=cfg.k_min,
            k_max=cfg.k_max, n_init=cfg.n_init, seed=cfg.seed,
            min_cluster_segments=cfg.min_cluster_segments,
            silhouette_tolerance=cfg.silhouette_tolerance,
        )  # fmt: skip
        auto = scores(truth, ids.tolist())
        u = lib.unit(x)
        fixed_pred = KMeans(
            n_clusters=k_true, n_init=cfg.n_init, random_state=cfg.seed
        ).fit_predict(u)  # noqa: E501
        fixed = scores(truth, fixed_pred.tolist())
        rows.append({
            "embedding": name, "k_auto": lib.k,
            "silhouette": lib.silhouettes.get(lib.k, math.nan),
            **{f"{m}_auto": v for m, v in auto.items()},
            "k_true": k_true, **{f"{m}_true_k": v for m, v in fixed.items()},
        })  # fmt: skip
        log.info("%s: k=%d NMI %.3f (auto), NMI %.3f (k=%d)", name, lib.k, auto["nmi"],
                 fixed["nmi"], k_true)  # fmt: skip
    return {
        "segments": len(items),
        "labels": dict(sorted(Counter(truth).items())),
        "k_true": k_true,
        "rows": rows,
    }


def report_markdown(report: dict[str, Any], *, title: str = "") -> str:
    head = ("| embedding | k (auto) | silhouette | NMI | ARI | purity | k (true) | NMI | ARI "
            "| purity |")  # fmt: skip
    lines = [title] if title else []
    lines += [head, "|" + "---|" * 10]
    for r in report["rows"]:
        lines.append(
            f"| {r['embedding']} | {r['k_auto']} | {r['silhouette']:.3f} | {r['nmi_auto']:.3f} | "
            f"{r['ari_auto']:.3f} | {r['purity_auto']:.3f} | {r['k_true']} | "
            f"{r['nmi_true_k']:.3f} | {r['ari_true_k']:.3f} | {r['purity_true_k']:.3f} |"
        )
    return "\n".join(lines)
