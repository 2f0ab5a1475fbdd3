"""Issue 12 item 3 experiments (dev data only): place the cyclic boundaries better after the
repeat merge, on ``points_cache.py`` caches (step features, times, spatial descriptors, truth).

    python second_pass.py CACHE.pkl [CACHE.pkl ...]

For each cache: the merge alone, the product's second pass with its defaults (and whether any
video changed: the gate keeps it off outside repeated-cycle work), the grid of its context /
restore / drop, six random half splits (best on one half, scored on the other), and the
position refinements tried and not kept (move each kept cut within +-W steps to the largest
descriptor contrast, or to the least L2 cost of the energy features between its neighbours).

Research code, not part of the product; results in BENCHMARKS.md (issue 12 section).
"""

import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from pipeline.evaluation.harness import evaluate_pair  # noqa: E402
from pipeline.segments.config import SegmentationConfig  # noqa: E402
from pipeline.segments.segfile import SegmentFile  # noqa: E402
from pipeline.segments.segmenters import ChangePointSegmenter  # noqa: E402
from pipeline.segments.segmenters.base import bkps_to_spans, span_to_segment  # noqa: E402
from pipeline.segments.segmenters.repeat import (  # noqa: E402
    check_spatial,
    context_distance,
    second_pass,
)

P = SegmentationConfig().changepoint.model_copy(update={"standardize": False, "hands": False})


def prepare(v):
    merge = ChangePointSegmenter.from_params(P.model_copy(update={"repeat_second": False}))
    merge.fit(v["f"], v["t"], end_sec=v["dur"], spatial=v["spatial"])
    fine = ChangePointSegmenter.from_params(P.model_copy(update={"rule": "noise_gain"}))
    v["fine"] = fine.fit(v["f"], v["t"], end_sec=v["dur"]).predict_bkps()
    v["merge"], v["fired"] = merge.predict_bkps(), merge.rule_fired_ == "repeat"
    v["s"] = check_spatial(v["spatial"], len(v["t"]))
    default = ChangePointSegmenter.from_params(P)
    v["default"] = default.fit(v["f"], v["t"], end_sec=v["dur"], spatial=v["spatial"])
    return v


def score(v, bkps):
    t, gt = v["t"], v["gt"]
    segs = tuple(span_to_segment(sp, t, v["dur"], None) for sp in bkps_to_spans(bkps, t.size))
    s = evaluate_pair(gt, SegmentFile(gt.video, gt.fps, gt.duration_sec, segs))
    return s["boundary_f1@0.5"], s["boundary_f1@1.0"], s["n_pred"] / s["n_true"] - 1


def second(v, ctx, restore, drop):
    if not v["fired"]:
        return v["merge"]
    return second_pass(v["fine"], v["merge"], v["s"], context=ctx, restore=restore, drop=drop).kept


def contrast(v, w, ctx):
    """Each kept cut moved within +-w steps to the largest context distance (pause edges stay)."""
    if not v["fired"]:
        return v["merge"]
    s, kept, n = v["s"], v["merge"][:-1], len(v["t"])
    out = []
    for i, c in enumerate(kept):
        lo = max(c - w, kept[i - 1] + 2 if i else 2)
        hi = min(c + w, kept[i + 1] - 2 if i + 1 < len(kept) else n - 2)
        if not np.isfinite(context_distance(s, c, ctx)) or lo > hi:
            out.append(c)
            continue
        d = [context_distance(s, x, ctx) for x in range(lo, hi + 1)]
        out.append(lo + int(np.argmax(np.where(np.isfinite(d), d, 99.0))))
    return [*sorted(set(out)), n]


def l2(v, w):
    """Each kept cut moved within +-w steps to the least L2 cost of the two pieces between its
    kept neighbours, on the (standardised) energy features."""
    if not v["fired"]:
        return v["merge"]
    x = v["f"]
    x = (x - np.median(x, 0)) / (x.std(0) + 1e-9)
    cs = np.vstack([np.zeros(x.shape[1]), np.cumsum(x, 0)])
    cs2 = np.concatenate([[0.0], np.cumsum((x**2).sum(1))])

    def cost(a, b):
        m = cs[b] - cs[a]
        return cs2[b] - cs2[a] - (m @ m) / (b - a)

    bk = [0, *v["merge"]]
    for i in range(1, len(bk) - 1):
        a, c, b = bk[i - 1], bk[i], bk[i + 1]
        lo, hi = max(a + 2, c - w), min(b - 2, c + w)
        if lo <= hi:
            bk[i] = min(range(lo, hi + 1), key=lambda k: cost(a, k) + cost(k, b))
    return bk[1:]


def line(name, r):
    r = np.asarray(r)
    return (
        f"{name:38s} F1@0.5 {r[:, 0].mean():.3f} F1@1 {r[:, 1].mean():.3f} "
        f"count {r[:, 2].mean():+.3f}"
    )


def main():
    for path in sys.argv[1:]:
        with open(path, "rb") as fh:
            vids = [prepare(v) for v in pickle.load(fh)]
        opened = sum(v["fired"] for v in vids)
        print(f"== {Path(path).stem}: {len(vids)} videos, gate open on {opened}")
        base = np.array([score(v, v["merge"]) for v in vids])
        print(line("merge alone", base))
        same = sum(v["default"].predict_bkps() == v["merge"] for v in vids)
        print(line("second pass (default)", [score(v, v["default"].predict_bkps()) for v in vids]),
              f"unchanged {same} of {len(vids)}")
        if not any(v["fired"] for v in vids):
            continue
        grid = {}
        for ctx in (15, 20, 22, 25, 28, 30, 40):
            for restore in (0.95, 1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3):
                for drop in (0.75, 0.8, 0.9, 1.0, 1.1):
                    grid[ctx, restore, drop] = np.array(
                        [score(v, second(v, ctx, restore, drop)) for v in vids])
        for ctx in (20, 25, 30):
            print(f"context {ctx} steps, drop 1.0: " + " ".join(
                f"{r}:{grid[ctx, r, 1.0][:, 1].mean():.3f}/{grid[ctx, r, 1.0][:, 2].mean():+.2f}"
                for r in (0.95, 1.0, 1.1, 1.15, 1.2, 1.3)))
        no_drop = [score(v, second(v, 25, 1.15, 1e-9)) for v in vids]
        print(line("context 25, restore 1.15, no drop", no_drop))
        rng = np.random.default_rng(0)
        for k in range(6):
            idx = rng.permutation(len(vids))
            a, b = idx[: len(vids) // 2], idx[len(vids) // 2 :]
            best = max(grid, key=lambda g: grid[g][a, 1].mean())
            print(f"split {k}: best on half A {best}, half B {grid[best][b, 1].mean():.3f} "
                  f"(merge alone {base[b, 1].mean():.3f})")
        for w in (3, 5, 10):
            for ctx in (3, 5, 10, 15):
                r = [score(v, contrast(v, w, ctx)) for v in vids]
                print(line(f"contrast W{w} ctx{ctx}", r))
            print(line(f"L2 energy W{w}", [score(v, l2(v, w)) for v in vids]))


if __name__ == "__main__":
    main()
