"""Variants of the motion_summary segment embedding, scored on a store with ground truth.

usage: python docs/experiments/issue13/features.py STORE GT   (development stores only)
Prints NMI/ARI/purity for automatic k and k = true count per variant.
"""

import math
import sys
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans

from pipeline.discovery.config import DiscoveryConfig
from pipeline.discovery.embeddings import STEP_FEATURES, EmbedContext
from pipeline.discovery.library import fit_library
from pipeline.discovery.stage import embed_items, load_items
from pipeline.evaluation.clusters import scores, true_labels
from pipeline.io.storage import open_storage

store, gt = open_storage(sys.argv[1]), Path(sys.argv[2])
items = load_items(store)
labels = true_labels(store, gt, items)
keep = [i for i, lab in enumerate(labels) if lab is not None]
items = [items[i] for i in keep]
truth = [labels[i] for i in keep]
ctx = EmbedContext()
base = embed_items(store, items, "motion_summary", ctx)
F = len(STEP_FEATURES)
C = slice(4, 8)  # centroid x, y, velocity x, y


def seg_steps(it):
    vs = ctx.steps[it.video_id]
    sel = (vs.times >= it.start_sec) & (vs.times < it.end_sec)
    if not sel.any():
        sel[int(np.argmin(np.abs(vs.times - (it.start_sec + it.end_sec) / 2)))] = True
    return vs.values[sel]


def thirds(x):
    n = len(x)
    a = x[: max(1, n // 3)]
    b = x[n - max(1, n // 3) :]
    return a.mean(0), b.mean(0)


def variant(name):
    rows = []
    for it in items:
        x = seg_steps(it)
        a, b = thirds(x)
        dur = [math.log(max(it.duration_sec, 1e-3))]
        if name == "base":
            return base
        if name == "mean":
            rows.append(np.concatenate([x.mean(0), dur]))
        elif name == "mean+ends":
            rows.append(np.concatenate([x.mean(0), a[C], b[C], dur]))
        elif name == "base+ends":
            rows.append(np.concatenate([a[C], b[C]]))
        elif name == "ends":
            rows.append(np.concatenate([x[:, :4].mean(0), a[C], b[C], b[4:6] - a[4:6], dur]))
    out = np.array(rows)
    if name == "base+ends":
        out = np.concatenate([base, out], axis=1)
    return out


for name in sys.argv[3:] or ["base", "mean", "mean+ends", "base+ends", "ends"]:
    x = variant(name)
    cfg = DiscoveryConfig()
    lib, ids = fit_library(x, embedding=name, config_fingerprint="x", k_min=3, k_max=16)
    k = len(set(truth))
    fixed = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(lib.unit(x))
    print(
        f"{name:12s} d={x.shape[1]:3d} auto k={lib.k:2d} {scores(truth, ids.tolist())}  "
        f"k={k} {scores(truth, fixed.tolist())}",
        flush=True,
    )
