"""Where the hand is and how its apparent shape changes: new motion_summary variants.

usage: python docs/experiments/issue13/where.py CACHE.pkl [VARIANT ...]   (development only)
CACHE.pkl comes from ``cache.py``. Per-step descriptors beyond the stored eight:
  spread  weighted RMS distance of the moving points from their centroid (how big the moving
          thing looks)
  div     weighted mean radial velocity about the centroid (> 0 the moving cloud grows: the
          hand comes closer or opens; < 0 it contracts: a grasp closing, a push away)
  curl    weighted mean tangential velocity about the centroid (a screwing wrist)
  npts    log of the effective number of moving points (1 / sum w^2)
Segment features are built from groups (``GROUPS``); a variant names the groups it uses,
``+``-separated, optionally with ``@w`` (group weight after standardisation) and ``/k=RULE``
(how k is chosen; ``fit_library``'s silhouette by default).
"""

import math
import pickle
import sys

import numpy as np
from scipy.ndimage import gaussian_filter1d
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from pipeline.discovery.library import _normalise
from pipeline.evaluation.clusters import scores
from pipeline.segments.motion import NOISE_K, _active

with open(sys.argv[1], "rb") as _f:
    D = pickle.load(_f)
ITEMS, TRUTH, RAW = D["items"], D["truth"], D["raw"]


def per_step(r, smooth=0.0):
    """(S, 12) per-step descriptors of one video (module doc)."""
    times = r["times"]
    vel = r["velocities"].astype(np.float64)
    s = min(len(times), vel.shape[0], r["motion"].size)
    g = r["grid_size"]
    gg = (np.arange(g) + 0.5) / g * 2.0 - 1.0
    gx, gy = np.meshgrid(gg, gg)
    pos = np.stack([gx.ravel(), gy.ravel()], axis=1)
    res = vel[:s] - np.median(vel[:s], axis=0)
    src = gaussian_filter1d(res, smooth, axis=0, mode="nearest") if smooth > 0 else res
    act, _ = _active(src, NOISE_K)
    sp = act * r["point_weight"][None, :]
    tot = sp.sum(1)
    ok = tot > 1e-9
    w = np.where(ok[:, None], sp / np.where(ok, tot, 1.0)[:, None], 0.0)
    v = np.zeros((len(times), 12))
    c = w @ pos
    v[:s, 4:6] = c
    v[:s, 6] = (w * res[..., 0]).sum(1)
    v[:s, 7] = (w * res[..., 1]).sum(1)
    d = pos[None] - c[:, None]  # (s, N, 2)
    dist = np.linalg.norm(d, axis=2)
    v[:s, 8] = np.sqrt((w * dist**2).sum(1))
    u = d / np.maximum(dist, 1e-6)[..., None]
    v[:s, 9] = (w * (res * u).sum(2)).sum(1)
    v[:s, 10] = (w * (res[..., 1] * u[..., 0] - res[..., 0] * u[..., 1])).sum(1)
    v[:s, 11] = np.where(ok, np.log1p(1.0 / np.maximum((w**2).sum(1), 1e-12)), 0.0)
    v[:s, 0] = r["motion"][:s]
    v[:s, 1] = r["occlusion"][:s]
    if r["window_centres"].size:
        v[:, 2] = np.interp(times, r["window_centres"], r["track_speed"])
        v[:, 3] = np.interp(times, r["window_centres"], r["flow_magnitude"])
    return v, ok


_CACHE = {}


def steps_of(smooth):
    if smooth not in _CACHE:
        _CACHE[smooth] = {vid: per_step(r, smooth) for vid, r in RAW.items()}
    return _CACHE[smooth]


def seg(vs_times, vals, it):
    sel = (vs_times >= it.start_sec) & (vs_times < it.end_sec)
    if not sel.any():
        sel = np.zeros(vs_times.size, bool)
        sel[int(np.argmin(np.abs(vs_times - (it.start_sec + it.end_sec) / 2)))] = True
    return vals[sel].copy()


def features(opts):
    smooth = float(opts.get("smooth", 0))
    st = steps_of(smooth)
    # per-video work area: the motion-weighted mean and std of the centroid over the video
    area = {}
    for vid, (v, ok) in st.items():
        m = np.log1p(10 * np.maximum(v[:, 0], 0)) * ok[: len(v)] if ok.size == len(v) else v[:, 0]
        m = np.asarray(m, float)
        ww = m / max(m.sum(), 1e-9)
        mu = (ww[:, None] * v[:, 4:6]).sum(0)
        sd = np.sqrt((ww[:, None] * (v[:, 4:6] - mu) ** 2).sum(0))
        area[vid] = (mu, np.maximum(sd, 1e-3))
    groups = {}
    for it in ITEMS:
        v, _ = st[it.video_id]
        x = seg(RAW[it.video_id]["times"], v, it)
        x[:, :4] = np.log1p(10.0 * np.maximum(x[:, :4], 0.0))
        if opts.get("norm"):
            mu, sd = area[it.video_id]
            x[:, 4:6] = (x[:, 4:6] - mu) / sd
        third = max(1, len(x) // 3)
        a, b = x[:third], x[len(x) - third:]
        step = np.abs(np.diff(x[:, :4], axis=0)).mean(0) if len(x) > 1 else np.zeros(4)
        row = {
            "E": np.concatenate([x[:, :4].mean(0), x[:, :4].std(0), step]),  # energies
            "P": np.concatenate([x[:, 4:6].mean(0), x[:, 4:6].std(0)]),  # where, mean/std
            "V": np.concatenate([x[:, 6:8].mean(0), x[:, 6:8].std(0)]),  # which way
            "T": [math.log(max(it.duration_sec, 1e-3))],
            "S": np.concatenate([a[:, 4:6].mean(0), b[:, 4:6].mean(0)]),  # start/end where
            "W": np.concatenate([a[:, 6:8].mean(0), b[:, 6:8].mean(0)]),  # start/end which way
            "G": np.concatenate([x[:, 8:12].mean(0), x[:, 8:12].std(0)]),  # shape change
            "g": np.concatenate([x[:, 8:10].mean(0)]),  # spread + divergence only
            "Gs": np.concatenate([x[:, 8:9].mean(0), x[:, 8:9].std(0)]),  # spread
            "Gd": np.concatenate([x[:, 9:11].mean(0), x[:, 9:11].std(0)]),  # div + curl
            "Gn": np.concatenate([x[:, 11:12].mean(0), x[:, 11:12].std(0)]),  # moving points
            "Gm": x[:, 8:12].mean(0),  # shape change, means only
            "D": np.concatenate([b[:, 4:6].mean(0) - a[:, 4:6].mean(0)]),  # displacement
        }
        for k, val in row.items():
            groups.setdefault(k, []).append(np.asarray(val, float))
    return {k: np.array(v) for k, v in groups.items()}


BASE = "E+P+V+T+S+W"  # = the default motion_summary (same columns, other order)


def build(spec):
    """spec like 'E+P+V+T+S+W+G@0.5;smooth=1;norm=1;bal=1'"""
    parts = spec.split(";")
    opts = dict(p.split("=") for p in parts[1:])
    gs = features(opts)
    cols = []
    for g in parts[0].split("+"):
        name, _, w = g.partition("@")
        z = gs[name]
        sd = z.std(0)
        z = (z - z.mean(0)) / np.where(sd > 1e-9, sd, 1.0)
        wt = float(w) if w else 1.0
        if opts.get("bal"):
            wt /= math.sqrt(z.shape[1])
        cols.append(z * wt)
    return np.concatenate(cols, axis=1), opts


def choose_k(u, rule, ks=range(3, 17), seed=0):
    sil, labs = {}, {}
    for k in ks:
        lab = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(u)
        labs[k] = lab
        sil[k] = silhouette_score(u, lab, metric="cosine")
    name, _, arg = rule.partition(":")
    if name == "best":
        k = max(sil, key=lambda k: (sil[k], -k))
    elif name == "tol":  # the largest k within arg of the best silhouette
        top = max(sil.values())
        k = max(k for k in sil if sil[k] >= top - float(arg))
    elif name == "rel":  # the largest k within a relative tolerance
        top = max(sil.values())
        k = max(k for k in sil if sil[k] >= top * (1 - float(arg)))
    elif name == "share":  # best silhouette among ks whose smallest cluster has >= arg share
        okk = [k for k in sil if np.bincount(labs[k]).min() >= float(arg) * len(u)]
        k = max(okk or sil, key=lambda k: sil[k])
    elif name == "sm":  # the best silhouette averaged with its neighbouring ks
        ksl = sorted(sil)
        sm = {k: np.mean([sil[j] for j in ksl if abs(j - k) <= 1]) for k in ksl}
        k = max(sm, key=lambda k: (sm[k], -k))
    else:
        raise SystemExit(f"unknown rule {rule}")
    return k, labs[k], sil


def run(spec, rule="best"):
    x, _ = build(spec)
    u = _normalise(x)  # already standardised per column (and weighted)
    k, lab, sil = choose_k(u, rule)
    kt = len(set(TRUTH))
    fixed = KMeans(n_clusters=kt, n_init=10, random_state=0).fit_predict(u)
    a, f = scores(TRUTH, lab.tolist()), scores(TRUTH, fixed.tolist())
    curve = " ".join(f"{sil[k]:.2f}" for k in sorted(sil))
    print(f"{spec:44s} {rule:10s} d={x.shape[1]:3d} k={k:2d} NMI {a['nmi']:.3f} ARI {a['ari']:.3f}"
          f" | k={kt} NMI {f['nmi']:.3f} ARI {f['ari']:.3f} | sil {curve}", flush=True)


def seeds(spec, rule, n=5):
    """Mean NMI (automatic k) over k-means seeds 0..n-1: the rule's luck taken out."""
    x, _ = build(spec)
    u = _normalise(x)
    ks, nmis = [], []
    for sd in range(n):
        k, lab, _ = choose_k(u, rule, seed=sd)
        ks.append(k)
        nmis.append(scores(TRUTH, lab.tolist())["nmi"])
    print(f"{spec:44s} {rule:10s} seeds 0-{n - 1}: NMI mean {np.mean(nmis):.3f} min "
          f"{min(nmis):.3f} | k {ks}", flush=True)


def main():
    for arg in sys.argv[2:] or [BASE]:
        spec, _, rule = arg.partition("/k=")
        if rule == "curve":
            curve(spec)
        elif rule.startswith("seeds,"):
            seeds(spec, rule.split(",", 1)[1])
        else:
            run(spec, rule or "best")


def curve(spec):
    """NMI at every k (3..16) and its mean over 6..12: the embedding apart from the k rule."""
    x, _ = build(spec)
    u = _normalise(x)
    nmi, sil = {}, {}
    for k in range(3, 17):
        lab = KMeans(n_clusters=k, n_init=10, random_state=0).fit_predict(u)
        nmi[k] = scores(TRUTH, lab.tolist())["nmi"]
        sil[k] = silhouette_score(u, lab, metric="cosine")
    mid = np.mean([nmi[k] for k in range(6, 13)])
    print(f"{spec:44s} mean6-12 {mid:.3f} | NMI " + " ".join(f"{nmi[k]:.2f}" for k in nmi)
          + " | sil " + " ".join(f"{sil[k]:.2f}" for k in sil), flush=True)


if __name__ == "__main__":
    main()
