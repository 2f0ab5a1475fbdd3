import sys
import numpy as np
from gran import load
from granularity_exp import local_period
store, gt_dir = sys.argv[1:3]
data, cfg = load(store, gt_dir)
for stem, row, sig, gt in data[:3]:
    f = sig.step_features(cfg.features, cfg.weights())
    t = sig.step_times()
    per, rho = local_period(f[:, 0], 10.0)
    print(stem)
    for s in gt.segments:
        sel = (t >= s.start_sec) & (t < s.end_sec)
        if sel.sum() < 5: continue
        print(f"  {s.label:10s} {s.end_sec - s.start_sec:5.1f}s rho med {np.median(rho[sel]):.2f} per med {np.median(per[sel])/10:.2f}s motion mean {f[sel,0].mean():+.2f} sd {f[sel,0].std():.2f}")
