"""Share of moving grid points above pixel thresholds, raw and relative to the per-point median."""
from common import *
cfg = TokenizerConfig()
(tv, tf), (vv, vf), (rtv, _), (rvv, _) = load_residual(cfg)
print("raw share |px|>0.5", round(float(((tv[:600]*(tf[:600]/2).view(-1,1,1,2)).norm(dim=-1)>0.5).float().mean()),4))
print("frame", tf[0])
px = (rtv[:600]*(tf[:600]/2).view(-1,1,1,2)).norm(dim=-1)
for th in (0.5,1,1.7,2,3,5,7):
    print("resid share |px|>", th, round((px>th).float().mean().item(),4))
