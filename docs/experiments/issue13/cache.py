"""Cache a store's segments, true labels and raw per-step track inputs for fast variants.

usage: python docs/experiments/issue13/cache.py STORE GT OUT.pkl   (development stores only)
Saves the items, their most-overlapping true labels and, per video, the arguments
``embeddings.step_descriptors`` receives (step velocities, point weights, energies, times,
window statistics), so that ``where.py`` can try new per-step descriptors without re-reading
the tracks.
"""

import pickle
import sys
from pathlib import Path

import pipeline.discovery.stage as S
from pipeline.discovery.embeddings import EmbedContext
from pipeline.evaluation.clusters import true_labels
from pipeline.io.storage import open_storage

ORIG = S.step_descriptors
RAW = {}


def capture(velocities, point_weight, motion, occlusion, **kw):
    out = ORIG(velocities, point_weight, motion, occlusion, **kw)
    RAW[len(RAW)] = dict(velocities=velocities.astype("float32"), point_weight=point_weight,
                         motion=motion, occlusion=occlusion, **kw)
    return out


store, gt = open_storage(sys.argv[1]), Path(sys.argv[2])
items = S.load_items(store)
labels = true_labels(store, gt, items)
keep = [i for i, lab in enumerate(labels) if lab is not None]
items = [items[i] for i in keep]
truth = [labels[i] for i in keep]
S.step_descriptors = capture
ctx = EmbedContext()
x = S.embed_items(store, items, "motion_summary", ctx)
# RAW is in the order partition_steps visited the videos, as ctx.steps: key it by video id
raw = {vid: RAW[i] for i, vid in enumerate(ctx.steps)}
for vid, r in raw.items():
    assert (r["times"] == ctx.steps[vid].times).all()
with open(sys.argv[3], "wb") as f:
    pickle.dump({"items": items, "truth": truth, "raw": raw, "base": x}, f)
print(len(items), "segments,", len(raw), "videos", flush=True)
