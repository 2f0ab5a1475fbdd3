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


def context(out, extra_of):
    """Append each segment's neighbours' features (same video; zeros at the ends)."""
    prev_rows, next_rows = [], []
    for i, it in enumerate(items):
        p = extra_of[i - 1] if i > 0 and items[i - 1].video_id == it.video_id else None
        n = extra_of[i + 1] if i + 1 < len(items) and items[i + 1].video_id == it.video_id else None
        z = np.zeros_like(extra_of[i])
        prev_rows.append(z if p is None else p)
        next_rows.append(z if n is None else n)
    return np.concatenate([out, np.array(prev_rows), np.array(next_rows)], axis=1)


GROUPS = [8, 8, 4, 1, 4, 4, 4]  # log-ends3: means, stds, step change, duration, start, end, mid


def grouped(x, groups=GROUPS):
    """Standardise, then weight each feature group by 1/sqrt(its size) (groups count equally)."""
    sd = x.std(0)
    z = (x - x.mean(0)) / np.where(sd > 0, sd, 1)
    w = np.concatenate([[1 / np.sqrt(g)] * g for g in groups])
    return z * w


def variant(name):
    if name == "grouped":
        return grouped(variant("log-ends3"))
    if name == "grouped-pos2":
        x = grouped(variant("log-ends3"))
        x[:, 21:] *= 2 ** 0.5  # start, end, mid centroid/velocity count double
        return x
    if name.startswith("ctx"):
        base_v = variant("log-ends3")
        ends = []
        for it in items:
            y = seg_steps(it)
            a2, b2 = thirds(y)
            if name == "ctx":
                ends.append(np.concatenate([a2[4:6], b2[4:6]]))
            elif name == "ctx-e":
                energy = np.log1p(max(y[:, 0].mean(), 0) * 10)
                ends.append(np.concatenate([a2[4:6], b2[4:6], [energy]]))
            elif name == "ctx-near":
                ends.append(np.concatenate([b2[4:6], a2[4:6]]))
        ends = np.array(ends)
        if name == "ctx-near":  # previous segment's END, next segment's START only
            prev_rows, next_rows = [], []
            for i, it in enumerate(items):
                same_prev = i > 0 and items[i - 1].video_id == it.video_id
                same_next = i + 1 < len(items) and items[i + 1].video_id == it.video_id
                p = ends[i - 1][:2] if same_prev else np.zeros(2)
                n = ends[i + 1][2:] if same_next else np.zeros(2)
                prev_rows.append(p)
                next_rows.append(n)
            return np.concatenate([base_v, prev_rows, next_rows], axis=1)
        return context(base_v, ends)
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
        elif name in ("log", "log-nostd", "log-ends3", "log-quart"):
            y = x.copy()
            y[:, :4] = np.log1p(np.maximum(y[:, :4], 0) * 10)
            a2, b2 = thirds(y)
            step = np.abs(np.diff(y[:, :4], axis=0)).mean(0) if len(y) > 1 else np.zeros(4)
            parts = [y.mean(0)]
            if name != "log-nostd":
                parts.append(y.std(0))
            parts += [step, dur, a2[C], b2[C]]
            if name == "log-ends3":
                mid = y[len(y) // 3: max(len(y) // 3 + 1, 2 * len(y) // 3)]
                parts.append(mid[:, C].mean(0))
            if name == "log-quart":
                parts.append(np.percentile(y[:, :4], 90, axis=0))
            rows.append(np.concatenate(parts))
        elif name == "ends":
            rows.append(np.concatenate([x[:, :4].mean(0), a[C], b[C], b[4:6] - a[4:6], dur]))
    out = np.array(rows)
    if name == "base+ends":
        out = np.concatenate([base, out], axis=1)
    return out


for name in [] if __name__ != "__main__" else sys.argv[3:] or ["base", "mean", "ends"]:
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

