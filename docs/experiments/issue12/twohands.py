"""Issue 12 item 1b experiments on cached dev videos (points_cache.py): split the moving points
into two spatial groups (two hands), segment each group's motion, take the union.

    python twohands.py VARIANT CACHE.pkl [CACHE.pkl ...]

VARIANT: ``base`` (the product default), ``union`` (per-group change points, union),
``concat`` (one change-point fit on both groups' features side by side); ``+betaB``.
Research code, not part of the product; results in BENCHMARKS.md (issue 12, "Two hands").
"""

import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from pipeline.evaluation.harness import evaluate_pair  # noqa: E402
from pipeline.segments.config import SegmentationConfig  # noqa: E402
from pipeline.segments.motion import phase_standardize  # noqa: E402
from pipeline.segments.segfile import SegmentFile  # noqa: E402
from pipeline.segments.segmenters import ChangePointSegmenter  # noqa: E402
from pipeline.segments.segmenters.base import bkps_to_spans, span_to_segment  # noqa: E402
from pipeline.segments.segmenters.changepoint import robust_standardize  # noqa: E402

G = 20
C = (np.arange(G) + 0.5) / G * 2 - 1
PX, PY = np.tile(C, G), np.repeat(C, G)


def split_1d(x, w):
    """Weighted 2-means on 1-d positions: (threshold, variance reduction 1 - W/T)."""
    o = np.argsort(x, kind="stable")
    x, w = x[o], w[o]
    cw, cx, cxx = np.cumsum(w), np.cumsum(w * x), np.cumsum(w * x * x)
    total = cxx[-1] - cx[-1] ** 2 / cw[-1]
    best, thr = np.inf, 0.0
    for i in range(len(x) - 1):
        wl, wr = cw[i], cw[-1] - cw[i]
        if x[i] == x[i + 1] or wl <= 0 or wr <= 0:
            continue
        within = cxx[i] - cx[i] ** 2 / wl + (cxx[-1] - cxx[i]) - (cx[-1] - cx[i]) ** 2 / wr
        if within < best:
            best, thr = within, (x[i] + x[i + 1]) / 2
    return thr, 1 - best / total if total > 0 else 0.0


def group_features(v, mask, cfg):
    out = []
    for name, weight in zip(cfg.features, cfg.weights(), strict=True):
        e = (v["act"] if name == "motion" else v["lost"])[:, mask].sum(1).astype(np.float64)
        if name == "occlusion":
            e = np.clip(e, 0, None)
        x = robust_standardize(phase_standardize(np.sqrt(e), v["stride"])[:, None])
        if x.shape[1]:
            out.append(x * weight)
    n = v["f"].shape[0]
    return np.concatenate(out, axis=1)[:n]


def fit(p, x, v):
    cp = ChangePointSegmenter.from_params(p)
    cp.fit(x, v["t"], end_sec=v["dur"], spatial=v["spatial"])
    return cp


def union(cuts, n, min_size):
    """Sorted union of change points, a cut closer than min_size to the last kept one dropped."""
    kept = []
    for b in sorted(set(cuts)):
        if b < min_size or n - b < min_size:
            continue
        if kept and b - kept[-1] < min_size:
            continue
        kept.append(b)
    return [*kept, n]


def segment(v, variant, cfg):
    p = cfg.changepoint.model_copy(update={"standardize": False})
    parts = variant.split("+")
    for part in parts:
        if part.startswith("beta"):
            p = p.model_copy(update={"beta": float(part[4:])})
    base = fit(p, v["f"], v)
    n = v["f"].shape[0]
    info = {}
    if parts[0] == "base":
        return base.predict_bkps(), info
    w = v["act"].sum(0).astype(np.float64)
    thr, red = split_1d(PX, w)
    info["red"] = red
    left = thr > PX
    xa, xb = group_features(v, left, cfg), group_features(v, ~left, cfg)
    pg = p.model_copy(update={"rule": "noise_gain"})
    if parts[0] == "union":
        a, b = fit(pg, xa, v), fit(pg, xb, v)
        cuts = a.predict_bkps()[:-1] + b.predict_bkps()[:-1]
        if "all" in parts:
            cuts += base.predict_bkps()[:-1]
        gap = next((int(q[3:]) for q in parts if q.startswith("gap")), base.min_size_)
        info["na"], info["nb"] = len(a.predict_bkps()), len(b.predict_bkps())
        return union(cuts, n, gap), info
    if parts[0] == "concat":
        x = np.concatenate([xa, xb], axis=1) / np.sqrt(2)
        return fit(pg, x, v).predict_bkps(), info
    raise SystemExit(f"unknown variant {variant}")


def score(v, bkps):
    t = v["t"]
    segs = tuple(span_to_segment(sp, t, v["dur"], None) for sp in bkps_to_spans(bkps, t.size))
    gt = v["gt"]
    return evaluate_pair(gt, SegmentFile(gt.video, gt.fps, gt.duration_sec, segs))


def main():
    variant, *paths = sys.argv[1:]
    cfg = SegmentationConfig()
    for path in paths:
        with open(path, "rb") as fh:
            vids = pickle.load(fh)
        rows = []
        for v in vids:
            bkps, info = segment(v, variant, cfg)
            s = score(v, bkps)
            rows.append(
                [
                    s["boundary_f1@0.5"],
                    s["boundary_f1@1.0"],
                    s["segment_f1@0.5"],
                    s["n_pred"],
                    s["n_true"],
                    info.get("red", np.nan),
                ]
            )
        r = np.array(rows)
        print(
            f"{Path(path).stem:8s} {variant:20s} F1@0.5 {r[:, 0].mean():.3f} F1@1 "
            f"{r[:, 1].mean():.3f} segF1 {r[:, 2].mean():.3f} n {r[:, 3].mean():.1f} "
            f"({r[:, 4].mean():.1f}) count {np.mean(r[:, 3] / r[:, 4]) - 1:+.0%}",
            flush=True,
        )


if __name__ == "__main__":
    main()
