import sys
import numpy as np
from gran import load
from pipeline.segments.segmenters import ChangePointSegmenter
from pipeline.segments.segmenters.cpd_path import CostPath, choose_knee
from pipeline.segments.segmenters.base import bkps_to_spans

def acf(r, lag):
    return float((r[:-lag] * r[lag:]).sum() / max((r * r).sum(), 1e-12))

for store, gt_dir in zip(sys.argv[1::2], sys.argv[2::2]):
    data, cfg = load(store, gt_dir)
    for stem, row, sig, gt in data:
        f = sig.step_features(cfg.features, cfg.weights()); t = sig.step_times()
        p = cfg.changepoint.model_copy(update={"standardize": False, "rule": "noise_gain"})
        cp = ChangePointSegmenter.from_params(p).fit(f, t, end_sec=sig.duration_sec)
        b = cp.predict_bkps()
        knee = ChangePointSegmenter.from_params(p.model_copy(update={"rule": "knee"})).fit(f, t, end_sec=sig.duration_sec).predict_bkps()
        r = np.zeros_like(f)
        for a, e in bkps_to_spans(b, f.shape[0]):
            r[a:e] = f[a:e] - f[a:e].mean(0)
        r1 = r[:, 0]
        lens = np.diff([0] + b) / 10
        ntrue = len(gt.segments)
        print(f"{stem} true {ntrue:3d} ng {len(b):3d} knee {len(knee):3d} acf1 {acf(r1,1):.2f} acf3 {acf(r1,3):.2f} acf5 {acf(r1,5):.2f} medlen {np.median(lens):.2f}")
