"""The primitive library: k-means (cosine) on segment embeddings, with ids that stay stable.

Fitting (METHOD.md stage 7): standardise each embedding column (mean and std of the fit set),
L2-normalise each row, then k-means on the unit vectors (``n_init`` restarts, seeded) for every
k in ``[k_min, k_max]``; the k with the best cosine silhouette is kept, or, with a
``silhouette_tolerance`` above 0, the largest k whose silhouette is within it of the best
(segment silhouettes are nearly flat in k, 0.27-0.32 for every k on the bench development
seeds; on those seeds a tolerance of 0.005 did not help the default embedding, so the
default is 0: docs/experiments/issue13/where.py). Centroids are
re-normalised, so assignment is "largest cosine similarity" and ``distance = 1 - cosine``.

Stable ids: a library keeps an id per centroid. The first fit numbers them 0..k-1 by size
(largest first). A refit matches its centroids to the previous library's (Hungarian
assignment on the cosine distance, both sets taken into the new standardised space): a
matched new centroid within cosine distance 0.5 of its partner inherits the old id, any other
takes the next unused id (ids are never reused), and the
mapping (old id -> new id, with distance) is recorded with the new library. Assigning a
night's segments to the nearest centroid never renumbers anything.

The library's version is the first 12 hex of sha256 over its embedding name, config
fingerprint, scaler and centroids, so the same fit gives the same version.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.errors import DiscoveryError

log = logging.getLogger(__name__)

# a refit's centroid inherits an old id only within this cosine distance (cosine >= 0.5) of
# the old centroid; a farther pair of the Hungarian assignment is a new primitive and a
# retired one
MAX_MATCH_DISTANCE = 0.5
# the largest k within this of the best silhouette is chosen (module doc; 0: the best)
SILHOUETTE_TOLERANCE = 0.0


@dataclass
class Library:
    """A fitted library (module doc). ``centroids`` rows are unit vectors in the standardised
    space; ``ids[i]`` is the stable id of row ``i``; ``names[id]`` its name."""

    embedding: str
    config_fingerprint: str
    mean: np.ndarray  # (d,)
    scale: np.ndarray  # (d,)
    centroids: np.ndarray  # (k, d)
    ids: list[int]
    names: dict[int, str] = field(default_factory=dict)
    silhouettes: dict[int, float] = field(default_factory=dict)  # k -> cosine silhouette
    fit_segments: int = 0
    fit_sizes: dict[int, int] = field(default_factory=dict)  # id -> members of the fit set
    previous_version: str | None = None
    id_mapping: list[dict[str, Any]] = field(default_factory=list)
    tokenizer_version: str | None = None
    next_id: int = 0  # ids below it were given out once (never reused)

    def __post_init__(self) -> None:
        self.next_id = max(self.next_id, max(self.ids, default=-1) + 1)

    @property
    def k(self) -> int:
        return int(self.centroids.shape[0])

    @property
    def version(self) -> str:
        h = hashlib.sha256()
        h.update(f"{self.embedding}|{self.config_fingerprint}|{self.ids}".encode())
        for a in (self.mean, self.scale, self.centroids):
            h.update(np.ascontiguousarray(a, np.float64).tobytes())
        return h.hexdigest()[:12]

    def name_of(self, cluster_id: int) -> str:
        return self.names.get(int(cluster_id), default_name(cluster_id))

    def unit(self, x: np.ndarray) -> np.ndarray:
        """Embeddings (n, d) -> standardised, L2-normalised rows."""
        if x.ndim != 2 or x.shape[1] != self.mean.size:
            raise DiscoveryError(
                f"embeddings of dimension {x.shape[-1] if x.ndim else 0} do not fit a library "
                f"of dimension {self.mean.size} ({self.embedding})"
            )
        return _normalise((x - self.mean) / self.scale)

    def assign(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Nearest centroid of each row: (cluster ids (n,), cosine distances (n,))."""
        if x.shape[0] == 0:
            return np.zeros(0, np.int32), np.zeros(0, np.float32)
        sim = self.unit(x) @ self.centroids.T
        row = sim.argmax(axis=1)
        ids = np.asarray(self.ids, np.int32)[row]
        dist = np.clip(1.0 - sim[np.arange(len(row)), row], 0.0, 2.0)
        return ids, dist.astype(np.float32)

    # -- persistence: one npz (arrays) + one json (everything else) --------------------------
    def to_files(self) -> tuple[bytes, bytes]:
        buf = io.BytesIO()
        np.savez(buf, mean=self.mean, scale=self.scale, centroids=self.centroids)
        meta = {
            "version": self.version,
            "embedding": self.embedding,
            "config_fingerprint": self.config_fingerprint,
            "k": self.k,
            "ids": [int(i) for i in self.ids],
            "names": {str(k): v for k, v in sorted(self.names.items())},
            "silhouettes": {str(k): v for k, v in sorted(self.silhouettes.items())},
            "fit_segments": self.fit_segments,
            "fit_sizes": {str(k): v for k, v in sorted(self.fit_sizes.items())},
            "previous_version": self.previous_version,
            "id_mapping": self.id_mapping,
            "tokenizer_version": self.tokenizer_version,
            "next_id": self.next_id,
        }
        return buf.getvalue(), json.dumps(meta, indent=2, sort_keys=True).encode()

    @classmethod
    def from_files(cls, arrays: bytes, meta_json: bytes) -> Library:
        with np.load(io.BytesIO(arrays)) as z:
            mean, scale, centroids = z["mean"], z["scale"], z["centroids"]
        meta = json.loads(meta_json)
        lib = cls(
            embedding=meta["embedding"],
            config_fingerprint=meta["config_fingerprint"],
            mean=mean,
            scale=scale,
            centroids=centroids,
            ids=[int(i) for i in meta["ids"]],
            names={int(k): v for k, v in meta.get("names", {}).items()},
            silhouettes={int(k): float(v) for k, v in meta.get("silhouettes", {}).items()},
            fit_segments=int(meta.get("fit_segments", 0)),
            fit_sizes={int(k): int(v) for k, v in meta.get("fit_sizes", {}).items()},
            previous_version=meta.get("previous_version"),
            id_mapping=list(meta.get("id_mapping", [])),
            tokenizer_version=meta.get("tokenizer_version"),
            next_id=int(meta.get("next_id", 0)),
        )
        if meta.get("version") not in (None, lib.version):
            raise DiscoveryError(
                f"library files disagree: recorded version {meta['version']}, content {lib.version}"
            )
        return lib


def default_name(cluster_id: int) -> str:
    return f"primitive_{int(cluster_id):02d}"


def _normalise(x: np.ndarray) -> np.ndarray:
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 1e-12, n, 1.0)


def fit_library(
    x: np.ndarray,
    *,
    embedding: str,
    config_fingerprint: str,
    k_min: int = 3,
    k_max: int = 16,
    n_init: int = 10,
    seed: int = 0,
    previous: Library | None = None,
    max_silhouette_samples: int = 5000,
    min_cluster_segments: int = 1,
    silhouette_tolerance: float = SILHOUETTE_TOLERANCE,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[Library, np.ndarray]:
    """Fit on ``x`` (n, d); returns the library and each row's stable cluster id. k is at
    most ``n // min_cluster_segments`` (so that a cluster can average that many members);
    among the ks tried, the largest within ``silhouette_tolerance`` of the best silhouette."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    n = x.shape[0]
    if n < 2:
        raise DiscoveryError(f"a library needs at least 2 segments, got {n}")
    if not np.isfinite(x).all():
        raise DiscoveryError("segment embeddings contain NaN or infinite values")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    u = _normalise((x - mean) / scale)
    distinct = len(np.unique(np.round(u, 9), axis=0))
    hi = min(k_max, n - 1, distinct, n // max(1, min_cluster_segments))
    lo = min(max(2, k_min), hi)
    if hi < 2:
        raise DiscoveryError(
            f"{n} segments with {distinct} distinct embeddings: nothing to cluster"
        )
    sample_size = max_silhouette_samples if n > max_silhouette_samples else None
    fits: dict[int, tuple[float, np.ndarray, np.ndarray]] = {}
    silhouettes: dict[int, float] = {}
    ks = list(range(lo, hi + 1))
    for j, k in enumerate(ks):
        km = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit(u)
        labels = km.labels_
        if len(set(labels.tolist())) < 2:
            silhouettes[k] = float("nan")
            continue
        s = float(
            silhouette_score(u, labels, metric="cosine", sample_size=sample_size, random_state=seed)
        )
        silhouettes[k] = round(s, 6)
        fits[k] = (s, km.cluster_centers_, labels)
        if progress is not None:
            progress(j + 1, len(ks))
    if not fits:
        raise DiscoveryError("k-means found no two clusters at any k")
    top = max(f[0] for f in fits.values())
    k = max(k for k, f in fits.items() if f[0] >= top - max(0.0, silhouette_tolerance) - 1e-12)
    _, centres, labels = fits[k]
    centroids = _normalise(centres)
    sizes = np.bincount(labels, minlength=k)
    order = sorted(range(k), key=lambda i: (-sizes[i], i))  # largest first, then stable
    centroids = centroids[order]
    row_of = {old: new for new, old in enumerate(order)}
    rows = np.array([row_of[int(v)] for v in labels])
    ids, mapping = _stable_ids(centroids, mean, scale, previous)
    lib = Library(
        embedding=embedding,
        config_fingerprint=config_fingerprint,
        mean=mean,
        scale=scale,
        centroids=centroids,
        ids=ids,
        silhouettes=silhouettes,
        fit_segments=n,
        fit_sizes={ids[r]: int(sizes[order[r]]) for r in range(k)},
        previous_version=previous.version if previous is not None else None,
        id_mapping=mapping,
    )
    return lib, np.asarray(ids, np.int32)[rows]


def _stable_ids(
    centroids: np.ndarray,
    mean: np.ndarray,
    scale: np.ndarray,
    previous: Library | None,
    max_match_distance: float = MAX_MATCH_DISTANCE,
) -> tuple[list[int], list[dict[str, Any]]]:
    k = centroids.shape[0]
    if previous is None:
        return list(range(k)), []
    if previous.mean.size != mean.size:
        log.warning("previous library %s has another dimension: new ids", previous.version)
        start = previous.next_id
        return list(range(start, start + k)), []
    from scipy.optimize import linear_sum_assignment

    # the previous centroids back in embedding units, then into the new standardised space
    old = _normalise((previous.centroids * previous.scale + previous.mean - mean) / scale)
    cost = 1.0 - centroids @ old.T  # (k_new, k_old) cosine distance
    rows, cols = linear_sum_assignment(cost)
    ids = [-1] * k
    mapping = []
    for r, c in zip(rows, cols, strict=True):
        if cost[r, c] > max_match_distance:  # paired, but not the same primitive
            continue
        ids[r] = int(previous.ids[c])
        mapping.append({"old_id": int(previous.ids[c]), "new_id": int(previous.ids[c]),
                        "distance": round(float(cost[r, c]), 6)})  # fmt: skip
    nxt = previous.next_id
    for r in range(k):
        if ids[r] < 0:
            ids[r] = nxt
            mapping.append({"old_id": None, "new_id": nxt, "distance": None})
            nxt += 1
    kept = {m["old_id"] for m in mapping}
    for old_id in previous.ids:
        if old_id not in kept:
            mapping.append({"old_id": int(old_id), "new_id": None, "distance": None})
    mapping.sort(key=lambda m: (m["old_id"] is None, m["old_id"] or 0, m["new_id"] or 0))
    return ids, mapping


def stratified_sample(groups: Sequence[str], limit: int, *, seed: int = 0) -> np.ndarray:
    """Indexes of at most ``limit`` items, the same share from every group (date x station),
    seeded; all of them when there are no more than ``limit``."""
    n = len(groups)
    if n <= limit:
        return np.arange(n)
    rng = np.random.default_rng(seed)
    by: dict[str, list[int]] = {}
    for i, g in enumerate(groups):
        by.setdefault(g, []).append(i)
    share = limit / n
    picked: list[int] = []
    for g in sorted(by):
        idx = np.asarray(by[g])
        take = max(1, int(round(share * idx.size)))
        picked.extend(rng.choice(idx, size=min(take, idx.size), replace=False).tolist())
    return np.asarray(sorted(picked[:limit] if len(picked) > limit else picked))
