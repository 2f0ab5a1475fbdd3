import sys
import numpy as np
from gran import load
from centroid import centroids
from pipeline.segments.segmenters import ChangePointSegmenter
from pipeline.segments.segmenters.base import bkps_to_spans

for store, gt_dir in zip(sys.argv[1::2], sys.argv[2::2]):
    data, cfg = load(store, gt_dir)
    rows = []
    for stem, row, sig, gt in data:
        f = sig.step_features(cfg.features, cfg.weights()); t = sig.step_times()
        c = centroids(store, "2026-11-01", row["station"] if "station" in row else ("cyc" if "cyc" in store else "bench"), row["video_id"])[: f.shape[0]]
        p = cfg.changepoint.model_copy(update={"standardize": False})
        b = ChangePointSegmenter.from_params(p).fit(f, t, end_sec=sig.duration_sec).predict_bkps()
        spans = bkps_to_spans(b, f.shape[0])
        gtb = np.array([s.start_sec for s in gt.segments[1:]])
        for (a0, a1), (b0, b1) in zip(spans[:-1], spans[1:]):
            cut = t[b0]
            real = bool(gtb.size and np.min(np.abs(gtb - cut)) <= 0.5)
            e = float(np.linalg.norm(f[a0:a1].mean(0) - f[b0:b1].mean(0)))
            cd = float(np.linalg.norm(c[a0:a1].mean(0) - c[b0:b1].mean(0)))
            from granularity_exp import _mmd
            m = _mmd(f[a0:a1], f[b0:b1], 0.5)
            rows.append((real, e, cd, m))
    r = np.array(rows)
    real = r[:, 0].astype(bool)
    def auc(j):
        pos, neg = r[real, j], r[~real, j]
        return (pos[:, None] > neg[None, :]).mean(), np.median(pos), np.percentile(pos, 25), np.median(neg), np.percentile(neg, 75)
    for j, name in ((1, "energy"), (2, "centroid"), (3, "mmd")):
        print(store, name, "AUC %.2f real med %.3f q25 %.3f spurious med %.3f q75 %.3f" % auc(j))
    comb = r[:, 3] / np.median(r[:, 3]) + r[:, 2] / np.median(r[:, 2])
    r = np.column_stack([r, comb]); print(store, "mmd+centroid AUC %.2f" % auc(4)[0])
