"""python toy.py VARIANT EPOCHS: the two-regime windows of tests/models/test_train_collapse.py."""
import sys
from common import *
from tests.models.conftest import tiny_config
from tests.models.test_train_collapse import two_regime_windows, WORKER
from tests.models.tokenizer_checks import measure_informativeness
name, epochs = sys.argv[1], int(sys.argv[2])
cfg = tiny_config(window_frames=8, fsq_levels=(5, 5, 5), max_epochs=6, latent_norm=True,
                  steps_per_epoch=None, early_stop_patience=None,
                  **({"input_deadzone": 0.0} if "dz0" in name else {}))
rng = np.random.default_rng(0)
tr = [two_regime_windows(rng, 64, cfg.steps, cfg.num_points) for _ in range(3)]
vel = torch.from_numpy(np.concatenate([t["velocities"] for t in tr]))
fs = torch.tensor([48.0, 32.0]).expand(vel.shape[0], 2).contiguous()
te = two_regime_windows(np.random.default_rng(1), 64, cfg.steps, cfg.num_points)
model = (Direct if "direct" in name else MotionTokenizer)(cfg)
import re
sig = re.search(r'sig([0-9.]+)', name); mw = re.search(r'mw([0-9.]+)', name)
patch_loss(model, float(sig.group(1)) if sig else None, float(mw.group(1)) if mw else None)
steps = epochs * (vel.shape[0] // cfg.batch_size)
train(model, (vel, fs), steps, cfg, log_every=100)
m = measure_informativeness(model.eval(), te["velocities"], te["frame_size"], np.array([WORKER]))
print(name, epochs, m)
