"""ICSS: intra-cluster semantic similarity of clips' keyframe embeddings, against random pairs.

The paper (LAPS) embeds clips with CLIP ViT-B/32 and compares the mean pairwise cosine
similarity inside each cluster with that of random pairs (0.926 vs 0.804). Here:

- an ``ImageEmbedder`` (``pipeline.discovery.image_embedders``: CLIP from a local folder, or
  the labelled non-semantic colour/texture fallback) turns keyframes into L2-normalised vectors;
- ``icss`` computes, from one embedding per item and cluster labels:
  * a cluster's *within* similarity: the mean cosine similarity over all pairs of distinct
    members (clusters of one member have none);
  * *overall within*: the mean over all within-cluster pairs pooled (a cluster weighs by its
    number of pairs);
  * *random*: the mean over all pairs of distinct items of the whole set, which is what
    random pairs estimate, computed exactly;
  * the differences within - random.
  Every mean is exact, with no pair sampling: for unit vectors the sum of ``e_i . e_j`` over
  ordered pairs ``i != j`` is ``|sum e|^2 - k``, so a set of k items costs O(k d), not O(k^2 d).
- **Bootstrap** (95 % percentile intervals): each replicate resamples items with replacement
  *within their cluster* (stratified: a cluster keeps its size; noise items and singletons
  are resampled within their own group), then recomputes every quantity over the pairs of
  distinct draws (two draws of the same item are not a pair). Resampling items, not pairs, keeps
  the dependence between pairs that share an item (pair resampling would give intervals too
  narrow). Replicates where a quantity has no pair (a 2-member cluster drawn as one item twice)
  are left out of that quantity's interval; a cluster needs 3 members for an interval.
  Deterministic for a given ``seed``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

# the embedders live in their own module; imported here so callers keep one entry point
from pipeline.discovery.image_embedders import (
    NON_SEMANTIC,
    ClipImageEmbedder,
    ColourTextureEmbedder,
    ImageEmbedder,
    image_embedder,
)
from pipeline.errors import DiscoveryError

log = logging.getLogger(__name__)

MIN_CI_MEMBERS = 3
_CHUNK_CELLS = 2_000_000  # bootstrap weights held at once (replicates x items)

__all__ = [
    "NON_SEMANTIC",
    "ClipImageEmbedder",
    "ColourTextureEmbedder",
    "ImageEmbedder",
    "IcssReport",
    "icss",
    "image_embedder",
]


# --- the statistic --------------------------------------------------------------------------
Interval = tuple[float, float] | None


@dataclass(frozen=True)
class ClusterIcss:
    """One cluster: ``within`` is None below 2 members, the intervals below 3 members."""

    label: Any
    size: int
    within: float | None
    within_ci: Interval
    difference: float | None  # within - the random-pair mean of the whole set
    difference_ci: Interval

    @property
    def pairs(self) -> int:
        return self.size * (self.size - 1) // 2


@dataclass(frozen=True)
class IcssReport:
    embedder: str
    semantic: bool
    n_items: int
    n_clusters: int  # clusters with 2 or more members
    n_singletons: int
    n_noise: int
    n_boot: int
    seed: int
    within: float | None
    within_ci: Interval
    random: float | None
    random_ci: Interval
    difference: float | None
    difference_ci: Interval
    clusters: list[ClusterIcss] = field(default_factory=list)
    reason: str | None = None  # why overall values are null, when some are

    @property
    def within_pairs(self) -> int:
        return sum(c.pairs for c in self.clusters)

    @property
    def random_pairs(self) -> int:
        return self.n_items * (self.n_items - 1) // 2

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe (no NaN, labels as int or str) for run metadata and the card."""
        return {
            "embedder": self.embedder,
            "semantic": self.semantic,
            "note": None if self.semantic else NON_SEMANTIC + ": colour/texture statistics",
            "method": "mean pairwise cosine similarity (exact); 95% percentile bootstrap over "
            "items resampled within their cluster",
            "n_items": self.n_items,
            "n_clusters": self.n_clusters,
            "n_singletons": self.n_singletons,
            "n_noise": self.n_noise,
            "n_boot": self.n_boot,
            "seed": self.seed,
            "within": _num(self.within),
            "within_ci": _ci(self.within_ci),
            "within_pairs": self.within_pairs,
            "random": _num(self.random),
            "random_ci": _ci(self.random_ci),
            "random_pairs": self.random_pairs,
            "difference": _num(self.difference),
            "difference_ci": _ci(self.difference_ci),
            "reason": self.reason,
            "clusters": [
                {
                    "cluster": _label(c.label),
                    "size": c.size,
                    "pairs": c.pairs,
                    "within": _num(c.within),
                    "within_ci": _ci(c.within_ci),
                    "difference": _num(c.difference),
                    "difference_ci": _ci(c.difference_ci),
                }
                for c in self.clusters
            ],
        }

    def markdown(self, *, max_clusters: int = 30, names: Mapping[Any, str] | None = None) -> str:
        """The dataset card's section: overall table, then the largest clusters (each shown by
        its label and, where ``names`` has one, its name: ``3 tighten``)."""
        kind = (
            "CLIP-class image embeddings"
            if self.semantic
            else f"**{NON_SEMANTIC}**: colour/texture statistics, not a semantic model; "
            "similar numbers mean similar colours and textures, not similar actions"
        )
        lines = [
            f"ICSS (intra-cluster similarity of keyframe embeddings), embedder `{self.embedder}`: "
            f"{kind}.",
            "Mean pairwise cosine similarity; 95 % bootstrap intervals (items resampled within "
            f"their cluster, {self.n_boot} replicates, seed {self.seed}).",
            "",
        ]
        if self.reason:
            lines += [f"Not all values could be computed: {self.reason}.", ""]
        lines += [
            "| pairs | count | mean cosine | 95 % CI |",
            "|---|---:|---:|---|",
            f"| within clusters | {self.within_pairs} | {_fmt(self.within)} | "
            f"{_fmt_ci(self.within_ci)} |",
            f"| random pairs | {self.random_pairs} | {_fmt(self.random)} | "
            f"{_fmt_ci(self.random_ci)} |",
            f"| within - random | | {_fmt(self.difference)} | {_fmt_ci(self.difference_ci)} |",
        ]
        with_pairs = [c for c in self.clusters if c.within is not None]
        shown = sorted(with_pairs, key=lambda c: -c.size)[:max_clusters]
        if shown:
            lines += [
                "",
                "| cluster | clips | within | 95 % CI | within - random | 95 % CI |",
                "|---|---:|---:|---|---:|---|",
            ]
            lines += [
                f"| {_shown(c.label, names)} | {c.size} | {_fmt(c.within)} | "
                f"{_fmt_ci(c.within_ci)} | "
                f"{_fmt(c.difference)} | {_fmt_ci(c.difference_ci)} |"
                for c in shown
            ]
            if len(with_pairs) > len(shown):
                lines.append(f"\n{len(with_pairs) - len(shown)} smaller clusters not shown.")
        return "\n".join(lines) + "\n"


def _shown(label: Any, names: Mapping[Any, str] | None) -> str:
    """A cluster's table cell: its label, then its name when there is one (pipes escaped)."""
    name = (names or {}).get(_label(label))
    text = f"{_label(label)} {name}" if name else f"{_label(label)}"
    return text.replace("|", "\\|")


def _num(x: float | None) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


def _ci(ci: Interval) -> list[float] | None:
    return None if ci is None else [_num(ci[0]), _num(ci[1])]


def _label(label: Any) -> int | str:
    if isinstance(label, bool | np.bool_):
        return str(label)
    if isinstance(label, int | np.integer):
        return int(label)
    return str(label)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _fmt_ci(ci: Interval) -> str:
    return "n/a" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]"


def icss(
    emb: np.ndarray,
    labels: np.ndarray,
    *,
    embedder: str,
    semantic: bool,
    n_boot: int = 1000,
    seed: int = 0,
    noise_label: Any = -1,
) -> IcssReport:
    """ICSS of ``emb`` (n, d) grouped by ``labels`` (n,); rows are L2-normalised here. Items
    labelled ``noise_label`` (HDBSCAN's -1; None for no such label) belong to no cluster but
    count in the random pairs. ``embedder`` and ``semantic`` describe the embedding (an
    ``ImageEmbedder``'s ``name`` and ``semantic``) and go into the report."""
    x, labs = _checked(emb, labels)
    if n_boot < 0:
        raise DiscoveryError(f"icss: n_boot must be >= 0, got {n_boot}")
    n = len(labs)
    groups = _groups(labs, noise_label)
    clusters = {k: v for k, v in groups.items() if k is not _NOISE and len(v) >= 2}
    n_noise = len(groups.get(_NOISE, ()))
    n_single = sum(1 for k, v in groups.items() if k is not _NOISE and len(v) == 1)
    reason = _reason(n, clusters, n_noise)
    est = _estimate(x, groups, clusters, np.ones(n))
    boot = _bootstrap(x, groups, clusters, n_boot, seed)
    comparable = reason is None
    cluster_rows = [
        _cluster_row(key, len(groups[key]), est, boot, key in clusters, comparable)
        for key in _order(groups)
    ]
    return IcssReport(
        embedder=embedder,
        semantic=bool(semantic),
        n_items=n,
        n_clusters=len(clusters),
        n_singletons=n_single,
        n_noise=n_noise,
        n_boot=n_boot,
        seed=seed,
        within=est["within"] if clusters else None,
        within_ci=_interval(boot, "within") if clusters else None,
        random=est["random"] if n >= 2 else None,
        random_ci=_interval(boot, "random") if n >= 2 else None,
        difference=est["difference"] if comparable else None,
        difference_ci=_interval(boot, "difference") if comparable else None,
        clusters=cluster_rows,
        reason=reason,
    )


class _Noise:
    def __repr__(self) -> str:
        return "noise"


_NOISE = _Noise()


def _checked(emb: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(emb, dtype=np.float64)
    labs = np.asarray(labels)
    if x.ndim != 2 or labs.ndim != 1 or len(x) != len(labs):
        raise DiscoveryError(
            f"icss: want embeddings (n, d) and labels (n,), got {x.shape} and {labs.shape}"
        )
    if not np.isfinite(x).all():
        raise DiscoveryError("icss: embeddings contain NaN or infinite values")
    norms = np.linalg.norm(x, axis=1)
    if len(x) and norms.min() <= 1e-12:
        raise DiscoveryError(f"icss: embedding row {int(norms.argmin())} is zero (no direction)")
    return x / norms[:, None] if len(x) else x, labs


def _groups(labs: np.ndarray, noise_label: Any) -> dict[Any, np.ndarray]:
    groups: dict[Any, list[int]] = {}
    for i, lab in enumerate(labs.tolist()):
        key = _NOISE if noise_label is not None and lab == noise_label else lab
        groups.setdefault(key, []).append(i)
    return {k: np.array(v) for k, v in groups.items()}


def _order(groups: dict[Any, np.ndarray]) -> list[Any]:
    """Cluster labels, numbers first in numeric order, then the rest by their text."""
    keys = [k for k in groups if k is not _NOISE]
    return sorted(keys, key=lambda k: (0, k, "") if isinstance(k, int | float) else (1, 0, str(k)))


def _reason(n: int, clusters: dict, n_noise: int) -> str | None:
    if n < 2:
        return f"{n} item(s): no pair at all"
    if not clusters:
        return "no cluster has 2 or more members"
    if len(clusters) == 1 and sum(len(v) for v in clusters.values()) == n:
        return "one cluster holds every item, so its pairs are the random pairs"
    return None


def _pair_mean(s: np.ndarray, sq: np.ndarray, total: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums over ordered pairs of distinct draws: (sum of similarities, number of pairs), from
    the weighted vector sum ``s``, sum of squared weights ``sq`` and total weight ``total``."""
    return np.einsum("...d,...d->...", s, s) - sq, total * total - sq


def _estimate(x, groups, clusters, w, *, replicate: bool = False) -> dict[Any, np.ndarray]:
    """Every quantity for item weights ``w`` (n,) or replicates (b, n): cluster means, the
    pooled within mean, the random mean and their differences (NaN where no pair).

    In a replicate, a pair of two items of one group of k has expected weight (k - 1) / k (draws
    of one item are no pair), a pair across groups 1: same-group sums are scaled by k / (k - 1)
    so the random mean and the pooled within mean are not biased towards cross-group pairs."""
    out: dict[Any, np.ndarray] = {}
    zeros = np.zeros(w.shape[:-1])
    num_all, den_all = zeros.copy(), zeros.copy()  # within-cluster pairs, pooled
    same_num, same_den = zeros.copy(), zeros.copy()  # pairs inside any group
    group_sq, group_w2 = zeros.copy(), zeros.copy()  # sum over groups of |s_g|^2, (sum w_g)^2
    total_s = np.zeros(w.shape[:-1] + (x.shape[1],))
    for key, idx in groups.items():
        wk = w[..., idx]
        s, sq, wsum = wk @ x[idx], (wk * wk).sum(-1), wk.sum(-1)
        total_s += s
        group_sq += np.einsum("...d,...d->...", s, s)
        group_w2 += wsum * wsum
        num, den = _pair_mean(s, sq, wsum)
        scale = len(idx) / (len(idx) - 1) if replicate and len(idx) > 1 else 1.0
        same_num += scale * num
        same_den += scale * den
        if key in clusters:
            out[("within", key)] = _ratio(num, den)
            num_all += scale * num
            den_all += scale * den
    total_w = w.sum(-1)
    cross_num = np.einsum("...d,...d->...", total_s, total_s) - group_sq
    cross_den = total_w * total_w - group_w2
    out["random"] = _ratio(cross_num + same_num, cross_den + same_den)
    out["within"] = _ratio(num_all, den_all)
    out["difference"] = out["within"] - out["random"]
    for key in clusters:
        out[("diff", key)] = out[("within", key)] - out["random"]
    return out


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0.5, num / np.where(den > 0.5, den, 1.0), np.nan)


def _bootstrap(x, groups, clusters, n_boot: int, seed: int) -> dict[Any, np.ndarray]:
    """``n_boot`` replicates of every quantity: multinomial item counts within each group."""
    if n_boot == 0 or len(x) < 2:
        return {}
    rng = np.random.default_rng(seed)
    chunk = max(1, min(n_boot, _CHUNK_CELLS // max(1, len(x))))
    parts: list[dict[Any, np.ndarray]] = []
    for start in range(0, n_boot, chunk):
        b = min(chunk, n_boot - start)
        w = np.ones((b, len(x)))
        for idx in groups.values():
            if len(idx) > 1:
                w[:, idx] = rng.multinomial(len(idx), np.full(len(idx), 1.0 / len(idx)), size=b)
        parts.append(_estimate(x, groups, clusters, w, replicate=True))
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _interval(boot: dict[Any, np.ndarray], key: Any) -> Interval:
    values = boot.get(key)
    if values is None:
        return None
    values = values[np.isfinite(values)]
    if len(values) < 2:
        return None
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def _cluster_row(key, size: int, est, boot, has_pairs: bool, comparable: bool) -> ClusterIcss:
    if not has_pairs:
        return ClusterIcss(key, size, None, None, None, None)
    ci_ok = size >= MIN_CI_MEMBERS
    return ClusterIcss(
        label=key,
        size=size,
        within=float(est[("within", key)]),
        within_ci=_interval(boot, ("within", key)) if ci_ok else None,
        difference=float(est[("diff", key)]) if comparable else None,
        difference_ci=_interval(boot, ("diff", key)) if ci_ok and comparable else None,
    )
