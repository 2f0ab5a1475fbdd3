"""Silhouette and NMI for every k on a development store: how should k be chosen?

usage: python docs/experiments/issue13/kchoice.py STORE GT   (development stores only)
"""

import sys
from pathlib import Path

from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from pipeline.discovery.embeddings import EmbedContext
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
x = embed_items(store, items, "motion_summary", EmbedContext())
lib, _ = fit_library(x, embedding="x", config_fingerprint="x", k_min=3, k_max=3)
u = lib.unit(x)
for k in range(2, 17):
    pred = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(u)
    sil = silhouette_score(u, pred, metric="cosine")
    print(f"k={k:2d} silhouette {sil:.3f} {scores(truth, pred.tolist())}", flush=True)
