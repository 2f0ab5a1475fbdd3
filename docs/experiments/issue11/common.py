"""Issue 11 item 2 experiments (dev set only): load a store's windows, train a tokenizer variant
with a plain AdamW loop, score code informativeness. Research code, not part of the product;
results are in BENCHMARKS.md ("Making the codes carry the motion: attempts").

The store is ``$LAPS_EXP_STORE`` (a ``laps segment`` output whose tracks are kept).
"""
import os, sys, time, json, math
from pathlib import Path
from contextlib import ExitStack
import numpy as np, torch
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from models.data import keep_mask, split_videos
from models.evaluate import informativeness
from models.tokenizer import TokenizerConfig
from pipeline.io.storage import open_storage
from pipeline.tokens.stage import training_files
from pipeline.tokens.training_data import load_videos

STORE = os.environ.get("LAPS_EXP_STORE", "data/dev/pred-1000")

def load(cfg, store=STORE):
    st = open_storage(store)
    files = training_files(st)
    with ExitStack() as stack:
        local = [(vid, stack.enter_context(st.local_path(k))) for vid, k in files]
        vids = load_videos(local, cfg)
    tr_ids, va_ids = split_videos([v.video_id for v in vids], cfg.val_fraction)
    def cat(ids):
        sel = [v for v in vids if v.video_id in ids]
        m = [keep_mask(v, cfg.gated_keep_fraction) for v in sel]
        return (torch.from_numpy(np.concatenate([v.velocities[k] for v, k in zip(sel, m)])),
                torch.from_numpy(np.concatenate([v.frame_size[k] for v, k in zip(sel, m)])))
    return cat(tr_ids), cat(va_ids), vids

def train(model, train, steps, cfg, lr=None, weight_fn=None, log_every=50, point_sampler=None):
    vel, fs = train
    torch.manual_seed(cfg.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr or cfg.lr, weight_decay=cfg.weight_decay)
    g = torch.Generator().manual_seed(cfg.seed)
    t0 = time.time()
    for step in range(steps):
        idx = torch.randint(0, vel.shape[0], (cfg.batch_size,), generator=g)
        batch = {"velocities": vel[idx], "frame_size": fs[idx]}
        model.train()
        pts = None
        if point_sampler is not None:
            pts = point_sampler(batch)
        elif cfg.decoded_points:
            pts = torch.randperm(cfg.num_points)[: cfg.decoded_points]
        loss = model.loss(batch, pts)
        opt.zero_grad(); loss.backward(); opt.step()
        if step % log_every == 0 or step == steps - 1:
            print(f"step {step} loss {loss.item():.4f} t {time.time()-t0:.0f}s", flush=True)
    return model

def score(model, val, seed=0):
    vel, fs = val
    info = informativeness(model, vel, fs, seed=seed)
    out = {k: info[k] for k in ("shuffle_gain", "constant_gain", "zero_motion_epe_px")}
    for k in ("true", "shuffled", "constant"):
        out[k] = {m: round(info[k][m], 4) for m in ("loss", "accuracy", "epe_px", "loss_all")}
    out["codes"] = info["codebook"]["distinct"]; out["ppl"] = round(info["codebook"]["perplexity"], 1)
    return out

import torch.nn.functional as F
from torch import nn
from models.tokenizer import MotionTokenizer, displacement_targets
from models.evaluate import zero_class, class_displacement, derangement, encode_all

def persistent(v_np):
    """per-video (N,2) median velocity over all windows and steps."""
    return np.median(v_np.reshape(-1, v_np.shape[-2], 2), axis=0)

def load_residual(cfg, store=STORE):
    (tv, tf), (vv, vf), vids = load(cfg, store)
    tr_ids, va_ids = split_videos([v.video_id for v in vids], cfg.val_fraction)
    def cat(ids, resid):
        sel = [v for v in vids if v.video_id in ids]
        out = []
        for v in sel:
            k = keep_mask(v, cfg.gated_keep_fraction)
            x = v.velocities[k]
            if resid:
                x = x - persistent(v.velocities)[None, None]
            out.append(x)
        return torch.from_numpy(np.concatenate(out).astype(np.float32))
    return (tv, tf), (vv, vf), (cat(tr_ids, True), tf), (cat(va_ids, True), vf)

class Direct(MotionTokenizer):
    """queries += projection of the step's own quantized latent (and a window summary)."""
    def __init__(self, cfg):
        super().__init__(cfg)
        self.q_code = nn.Linear(len(cfg.fsq_levels) * 1, cfg.d_model)
    def decode(self, z_q, point_idx=None):
        b, s, _ = z_q.shape
        mem = self.fsq_out(z_q) + self.mem_pos
        mem = mem.unsqueeze(1).expand(b, s, s, -1).reshape(b * s, s, -1)
        qp = self.query_point if point_idx is None else self.query_point[point_idx]
        p = qp.shape[0]
        queries = self.query_step.unsqueeze(1) + qp.unsqueeze(0)  # (S,P,d)
        tgt = queries.unsqueeze(0) + self.q_code(z_q).unsqueeze(2)  # (B,S,P,d)
        tgt = tgt.reshape(b * s, p, -1)
        out = self.decoder(tgt, mem)
        return self.head(self.dec_norm(out)).view(b, s, p, -1)

@torch.no_grad()
def score2(model, inp, fs, tgt_vel, mask_vel, seed=0, bs=64):
    """moving-point loss with true / shuffled / constant codes; targets from tgt_vel,
    'moving' = class of mask_vel != 0."""
    model.eval(); cfg = model.cfg; r = cfg.radius; zero = zero_class(r)
    z_q, codes = encode_all(model, inp)
    w = z_q.shape[0]
    top = int(torch.bincount(codes.reshape(-1)).argmax())
    variants = {"true": z_q, "shuffled": z_q[derangement(w, seed)],
                "constant": (model.fsq.indices_to_codes(torch.tensor(top)).expand_as(z_q).contiguous()
                             if z_q.shape[-1] == len(cfg.fsq_levels)
                             else z_q.mean((0, 1), keepdim=True).expand_as(z_q).contiguous())}
    res = {}
    for name, zz in variants.items():
        ce_s = ok_s = epe_s = 0.0; n = 0
        for i in range(0, w, bs):
            sl = slice(i, i + bs)
            logits = model.decode(zz[sl])  # all points
            t = displacement_targets(tgt_vel[sl], fs[sl], r)
            m = displacement_targets(mask_vel[sl], fs[sl], r) != zero
            ce = F.cross_entropy(logits.flatten(0, 2), t.reshape(-1), reduction="none")
            pred = logits.argmax(-1).reshape(-1)
            mm = m.reshape(-1)
            half = (fs[sl] / 2).view(-1, 1, 1, 2)
            epe = torch.linalg.vector_norm(class_displacement(pred, r) - (tgt_vel[sl] * half).reshape(-1, 2), dim=-1)
            ce_s += float(ce[mm].sum()); ok_s += float((pred == t.reshape(-1))[mm].float().sum())
            epe_s += float(epe[mm].sum()); n += int(mm.sum())
        res[name] = (round(ce_s / n, 4), round(ok_s / n, 4), round(epe_s / n, 3))
    res["gain"] = round(res["shuffled"][0] / res["true"][0] - 1, 4)
    res["codes"] = int(torch.unique(codes).numel())
    return res

def soft_targets(vel, frame_size, radius, sigma):
    """(B,S,P,2) normalized velocities -> (B,S,P,C) Gaussian class distribution around the px displacement."""
    half = (frame_size.to(vel.dtype) / 2).view(-1, 1, 1, 2)
    px = (vel * half).clamp(-radius, radius)  # (B,S,P,2)
    grid = torch.arange(-radius, radius + 1, dtype=vel.dtype)
    wx = torch.exp(-0.5 * ((grid - px[..., 0:1]) / sigma) ** 2)  # (B,S,P,K)
    wy = torch.exp(-0.5 * ((grid - px[..., 1:2]) / sigma) ** 2)
    p = wy.unsqueeze(-1) * wx.unsqueeze(-2)  # (B,S,P,Ky,Kx): class = y*K + x
    p = p.flatten(-2)
    return p / p.sum(-1, keepdim=True)

def patch_loss(model, sigma=None, moving_weight=None):
    orig = model.loss
    cfg = model.cfg
    def loss(batch, point_idx=None):
        vel = batch["velocities"]
        logits = model(vel, point_idx)
        sel = vel if point_idx is None else vel[:, :, point_idx]
        hard = displacement_targets(sel, batch["frame_size"], cfg.radius)
        if sigma:
            tgt = soft_targets(sel, batch["frame_size"], cfg.radius, sigma)
            ce = -(tgt * F.log_softmax(logits, -1)).sum(-1)
        else:
            ce = F.cross_entropy(logits.flatten(0, 2), hard.reshape(-1), reduction="none").view(hard.shape)
        if moving_weight:
            w = torch.where(hard != zero_class(cfg.radius), moving_weight, 1.0)
            return (ce * w).sum() / w.sum()
        return ce.mean()
    model.loss = loss
    return model

class PosQ(Direct):
    """per-point queries = MLP(Fourier features of the point's first-frame grid position)."""
    def __init__(self, cfg, freqs=6):
        super().__init__(cfg)
        g = cfg.grid_size
        c = (torch.arange(g) + 0.5) / g * 2 - 1
        yy, xx = torch.meshgrid(c, c, indexing="ij")
        pos = torch.stack([xx.reshape(-1), yy.reshape(-1)], -1)  # (N,2)
        f = (2.0 ** torch.arange(freqs)) * math.pi / 2
        ang = pos.unsqueeze(-1) * f  # (N,2,F)
        feat = torch.cat([pos, torch.sin(ang).flatten(1), torch.cos(ang).flatten(1)], -1)
        self.register_buffer("pos_feat", feat, persistent=False)
        del self.query_point
        self.pos_mlp = nn.Sequential(nn.Linear(feat.shape[1], cfg.d_model), nn.GELU(), nn.Linear(cfg.d_model, cfg.d_model))
    @property
    def query_point(self):
        return self.pos_mlp(self.pos_feat)


def continuous(model, dims=16):
    """Ceiling check: no quantizer, a ``dims``-wide continuous latent per step (codes all 0)."""
    from models.tokenizer import EncodeOut

    d = model.cfg.d_model
    model.fsq_in, model.fsq_out = nn.Linear(d, dims), nn.Linear(dims, d)
    model.fsq_norm = nn.BatchNorm1d(dims, affine=False)
    if hasattr(model, "q_code"):
        model.q_code = nn.Linear(dims, d)

    def encode(vel):
        b, s = vel.shape[:2]
        x = (vel.float() * model.cfg.input_scale).reshape(b, s, -1)
        h = model.encoder(model.in_proj(x) + model.step_pos, mask=model.causal_mask, is_causal=True)
        z = model.fsq_in(model.enc_norm(h))
        z = model.fsq_norm(z.reshape(b * s, -1)).view(z.shape)
        return EncodeOut(z_pre=z, z_q=z, codes=torch.zeros(b, s, dtype=torch.long))

    model.encode = encode
    return model
