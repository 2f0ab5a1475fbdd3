import sys
import numpy as np
from gran import load
from pipeline.segments.segmenters import ChangePointSegmenter
from pipeline.segments.segmenters.base import bkps_to_spans

def stats(a, b):
    # standardized mean difference per dim (pooled sd), max over dims; and an rbf MMD
    d = np.abs(a.mean(0) - b.mean(0)) / np.sqrt(0.5 * (a.var(0) + b.var(0)) + 1e-6)
    return float(d.max()), float(np.linalg.norm(a.mean(0) - b.mean(0)))

for store, gt_dir in zip(sys.argv[1::2], sys.argv[2::2]):
    data, cfg = load(store, gt_dir)
    rows = []
    for stem, row, sig, gt in data:
        f = sig.step_features(cfg.features, cfg.weights()); t = sig.step_times()
        p = cfg.changepoint.model_copy(update={"standardize": False})
        b = ChangePointSegmenter.from_params(p).fit(f, t, end_sec=sig.duration_sec).predict_bkps()
        spans = bkps_to_spans(b, f.shape[0])
        gtb = np.array([s.start_sec for s in gt.segments[1:]])
        for (a0, a1), (b0, b1) in zip(spans[:-1], spans[1:]):
            cut = t[b0]
            real = bool(gtb.size and np.min(np.abs(gtb - cut)) <= 0.5)
            d, e = stats(f[a0:a1], f[b0:b1])
            rows.append((real, d, e))
    r = np.array(rows)
    real = r[:, 0].astype(bool)
    for j, name in ((1, "smd"), (2, "meandiff")):
        pos, neg = r[real, j], r[~real, j]
        auc = (pos[:, None] > neg[None, :]).mean()
        print(f"{store}: pairs {len(r)} real {real.mean():.2f} {name}: real med {np.median(pos):.2f} q25 {np.percentile(pos,25):.2f}  spurious med {np.median(neg):.2f} q75 {np.percentile(neg,75):.2f} AUC {auc:.2f}")
