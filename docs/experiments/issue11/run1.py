"""python run1.py VARIANT STEPS: VARIANT names its parts: resid (targets and inputs relative to
each video's per-point median velocity), direct (queries + the step's own code), posq (queries
from grid positions), wpts (decoded points drawn by motion), mwK (moving targets weighted K),
sigS (Gaussian soft targets), dz0/dz4 (dead zone 0 / 0.004), big (FSQ 8,8,8,5,5), cont / cont4 (no quantizer: a 16- / 4-dim continuous latent, the ceiling check), fsq6 (FSQ 5 x 6 levels)."""
import sys
from common import *
name, steps = sys.argv[1], int(sys.argv[2])
kw = {}
if "dz0" in name: kw["input_deadzone"] = 0.0
if "dz4" in name: kw["input_deadzone"] = 0.004
if "big" in name: kw["fsq_levels"] = (8, 8, 8, 5, 5)
if "fsq6" in name: kw["fsq_levels"] = (5,) * 6
cfg = TokenizerConfig(**kw)
(tv, tf), (vv, vf), (rtv, _), (rvv, _) = load_residual(cfg)
resid = "resid" in name
model = (PosQ if "posq" in name else Direct if "direct" in name else MotionTokenizer)(cfg)
if "cont" in name:
    continuous(model, 4 if "cont4" in name else 16)
import re
sig = re.search(r"sig([0-9.]+)", name); mw = re.search(r"mw([0-9.]+)", name)
patch_loss(model, float(sig.group(1)) if sig else None, float(mw.group(1)) if mw else None)
sampler = None
if "wpts" in name:
    zero = zero_class(cfg.radius)
    def sampler(batch):
        t = displacement_targets(batch["velocities"], batch["frame_size"], cfg.radius)
        w = (t != zero).float().mean((0, 1)) + 0.02
        return torch.multinomial(w, cfg.decoded_points, replacement=False)
lr = 3e-3 if "lr3" in name else None
train(model, (rtv if resid else tv, tf), steps, cfg, point_sampler=sampler, lr=lr)
inp = rvv if resid else vv
print(name, steps, "native(moving=own target)", score2(model, inp, vf, inp, inp))
if not resid: print(name, steps, "arm(moving=residual)", score2(model, inp, vf, inp, rvv))
big = torch.where((rvv * (vf / 2).view(-1, 1, 1, 2)).norm(dim=-1, keepdim=True) > 2, rvv, torch.zeros_like(rvv))
print(name, steps, "big(moving=residual>2px)", score2(model, inp, vf, inp, big))
