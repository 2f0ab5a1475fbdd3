"""Where-the-hand-is descriptors: which point weights locate the hand best (dev stores only).

usage: python docs/experiments/issue13/weights.py STORE GT
Variants of ``embeddings.step_descriptors``' point weights, scored by clustering the
motion_summary embedding (NMI/ARI/purity, automatic k and k = true count):
  speed   (the default): |velocity - the frame's median velocity| x conveyor weight
  active  speed above each point's own noise floor (after removing its median over time, as
          the motion energy does) x conveyor weight
  active2 the same, squared (the fastest points dominate)
"""

import sys
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans

import pipeline.discovery.embeddings as E
from pipeline.discovery.embeddings import EmbedContext
from pipeline.discovery.library import fit_library
from pipeline.discovery.stage import embed_items, load_items
from pipeline.evaluation.clusters import scores, true_labels
from pipeline.io.storage import open_storage
from pipeline.segments.motion import NOISE_K, _active

ORIG = E.step_descriptors


def patched(mode):
    def step_descriptors(velocities, point_weight, motion, occlusion, *, grid_size, times,
                         window_centres, track_speed, flow_magnitude):
        out = ORIG(velocities, point_weight, motion, occlusion, grid_size=grid_size, times=times,
                   window_centres=window_centres, track_speed=track_speed,
                   flow_magnitude=flow_magnitude)
        if mode == "speed":
            return out
        s = min(len(times), velocities.shape[0])
        res = velocities[:s].astype(np.float64)
        res -= np.median(res, axis=0)
        act, _ = _active(res, NOISE_K)
        w = act * point_weight[None, :]
        if mode == "active2":
            w = w**2
        tot = w.sum(axis=1)
        ok = tot > 1e-12
        w = np.where(ok[:, None], w / np.where(ok, tot, 1.0)[:, None], 0.0)
        g = (np.arange(grid_size) + 0.5) / grid_size * 2.0 - 1.0
        gx, gy = np.meshgrid(g, g)
        pos = np.stack([gx.ravel(), gy.ravel()], axis=1)
        vals = out.values
        vals[:s, 4:6] = w @ pos
        vals[:s, 6] = (w * res[..., 0]).sum(axis=1)
        vals[:s, 7] = (w * res[..., 1]).sum(axis=1)
        return out

    return step_descriptors


store, gt = open_storage(sys.argv[1]), Path(sys.argv[2])
items = load_items(store)
labels = true_labels(store, gt, items)
keep = [i for i, lab in enumerate(labels) if lab is not None]
items = [items[i] for i in keep]
truth = [labels[i] for i in keep]
import pipeline.discovery.stage as S  # noqa: E402

for mode in sys.argv[3:] or ["speed", "active", "active2"]:
    S.step_descriptors = patched(mode)
    x = embed_items(store, items, "motion_summary", EmbedContext())
    lib, ids = fit_library(x, embedding="x", config_fingerprint="x", k_min=3, k_max=16,
                           min_cluster_segments=2)
    k = len(set(truth))
    fixed = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(lib.unit(x))
    print(f"{mode:8s} auto k={lib.k:2d} {scores(truth, ids.tolist())}  k={k} "
          f"{scores(truth, fixed.tolist())}", flush=True)
