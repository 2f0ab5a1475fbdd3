"""Issue 12 item 2 experiments on cached dev videos (cache2.py): merge adjacent noise_gain
pieces whose spatial motion pattern repeats, with thresholds from each video's own statistics.

    python spatial_merge.py CACHE.pkl [CACHE.pkl ...]

Research code, not part of the product; results in BENCHMARKS.md (issue 12 section).
"""

import pickle
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from pipeline.evaluation.harness import evaluate_pair  # noqa: E402
from pipeline.segments.segfile import SegmentFile  # noqa: E402
from pipeline.segments.segmenters.base import bkps_to_spans, span_to_segment  # noqa: E402


def piece_desc(v, a, b):
    """Spatial descriptor of steps [a, b): activity-weighted centroid, axis of the velocity
    second moments (orientation x anisotropy, as cos/sin of twice the angle), log scale."""
    sp, w = v["sp"][a:b], v["act"][a:b]
    ok = np.isfinite(sp[:, 0]) & (w > 0)
    if not ok.any():
        return np.full(5, np.nan)
    sp, w = sp[ok], w[ok]
    m = (sp * w[:, None]).sum(0) / w.sum()
    cx, cy, _, _, vxx, vyy, vxy = m
    tr = vxx + vyy
    return np.array([cx, cy, (vxx - vyy) / tr, 2 * vxy / tr, np.log(tr)])


def pair_dists(v, bkps, wloc=1.0, waxis=1.0, wscale=0.0):
    spans = bkps_to_spans(bkps, v["f"].shape[0])
    d = np.array([piece_desc(v, a, b) for a, b in spans])
    out = []
    for i in range(len(spans) - 1):
        x, y = d[i], d[i + 1]
        if np.isnan(x).any() or np.isnan(y).any():
            out.append(np.inf)
            continue
        loc = np.hypot(*(x[:2] - y[:2]))
        ax = np.hypot(*(x[2:4] - y[2:4]))
        sc = abs(x[4] - y[4])
        out.append(np.sqrt((wloc * loc) ** 2 + (waxis * ax) ** 2 + (wscale * sc) ** 2))
    return np.array(out), spans


def score(v, bkps):
    t = v["t"]
    spans = bkps_to_spans(bkps, t.size)
    segs = tuple(span_to_segment(sp, t, v["dur"], None) for sp in spans)
    gt = v["gt"]
    s = evaluate_pair(gt, SegmentFile(gt.video, gt.fps, gt.duration_sec, segs))
    return s["boundary_f1@1.0"], s["boundary_f1@0.5"], s["n_pred"], s["n_true"]


def labels(v, bkps, tol=0.5):
    t = v["t"]
    gtb = np.array([s.start_sec for s in v["gt"].segments[1:]])
    cuts = t[np.asarray(bkps[:-1])]
    return np.array([bool(gtb.size and np.min(np.abs(gtb - c)) <= tol) for c in cuts])


def auc(pos, neg):
    pos, neg = np.asarray(pos), np.asarray(neg)
    if not pos.size or not neg.size:
        return float("nan")
    return float((pos[:, None] > neg[None, :]).mean() + 0.5 * (pos[:, None] == neg[None, :]).mean())


def main():
    for path in sys.argv[1:]:
        with open(path, "rb") as fh:
            vids = pickle.load(fh)
        real, spur = [], []
        for v in vids:
            d, _ = pair_dists(v, v["ng"])
            lab = labels(v, v["ng"])
            real += d[lab].tolist()
            spur += d[~lab].tolist()
        r, s = np.array(real), np.array(spur)
        print(f"{Path(path).stem:12s} pairs real {r.size} spurious {s.size} AUC {auc(r, s):.2f} "
              f"real q10/50 {np.percentile(r, 10):.3f}/{np.median(r):.3f} "
              f"spur q50/90 {np.median(s) if s.size else np.nan:.3f}/"
              f"{np.percentile(s, 90) if s.size else np.nan:.3f}")


if __name__ == "__main__":
    main()
