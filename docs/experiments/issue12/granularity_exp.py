"""Candidate granularity rules for gran.py (dev experiments only)."""

import numpy as np

from pipeline.segments.segfile import Segment


def _desc(x):
    return np.concatenate([x.mean(0), x.std(0)])


def _dist(a, b, scale):
    return float(np.linalg.norm((_desc(a) - _desc(b)) / scale))


def merge_similar(pieces, feats, t, spec):
    """mergeQ: merge neighbours whose descriptor distance is below the Q-th percentile of the
    distances between the two halves of each piece (a null of 'same pattern')."""
    q = float(spec[5:] or 90)
    idx = [np.flatnonzero((t >= p.start_sec) & (t < p.end_sec)) for p in pieces]
    if feats.shape[1] == 0 or len(pieces) < 2:
        return pieces
    scale = np.concatenate([feats.std(0), feats.std(0)]) + 1e-9
    null = []
    for ix in idx:
        if ix.size >= 8:
            h = ix.size // 2
            null.append(_dist(feats[ix[:h]], feats[ix[h:]], scale))
    if not null:
        return pieces
    thr = np.percentile(null, q)
    out = [list(idx[0])]
    spans = [[pieces[0].start_sec, pieces[0].end_sec]]
    for p, ix in zip(pieces[1:], idx[1:]):
        prev = np.array(out[-1])
        if ix.size and prev.size and _dist(feats[prev], feats[ix], scale) <= thr:
            out[-1].extend(ix.tolist())
            spans[-1][1] = p.end_sec
        else:
            out.append(list(ix))
            spans.append([p.start_sec, p.end_sec])
    return [Segment(a, b, None) for a, b in spans]


def local_period(x, fps, win_sec=4.0, lags_sec=(0.3, 2.0)):
    """per-step (period steps, peak autocorrelation) of x over a centred window."""
    n = x.size
    w = int(round(win_sec * fps))
    lo, hi = int(round(lags_sec[0] * fps)), int(round(lags_sec[1] * fps))
    per = np.zeros(n, int)
    rho = np.zeros(n)
    for i in range(n):
        a, b = max(0, i - w // 2), min(n, i + w // 2)
        seg = x[a:b] - x[a:b].mean()
        den = float((seg * seg).sum())
        if den <= 0 or seg.size < 2 * hi:
            continue
        ac = np.array([float((seg[:-k] * seg[k:]).sum()) / den for k in range(lo, hi + 1)])
        k = int(np.argmax(ac))
        per[i], rho[i] = lo + k, ac[k]
    return per, rho


def _mmd(a, b, gamma):
    def k(x, y):
        d = ((x[:, None, :] - y[None, :, :]) ** 2).sum(-1)
        return np.exp(-gamma * d)
    return float(k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean())


def merge_mmd(pieces, feats, t, q=90.0, agglo=True, sub=2):
    """Agglomerative: merge the adjacent pair with the smallest rbf MMD while it is below the
    q-th percentile of the MMD between the halves of each initial piece."""
    if feats.shape[1] == 0 or len(pieces) < 2:
        return pieces
    x = feats[::sub]; tt = t[::sub]
    d2 = ((x[:, None, :] - x[None, :, :]) ** 2).sum(-1)
    gamma = 1.0 / max(np.median(d2[d2 > 0]), 1e-9)
    groups = [np.flatnonzero((tt >= p.start_sec) & (tt < p.end_sec)) for p in pieces]
    spans = [[p.start_sec, p.end_sec] for p in pieces]
    null = []
    for ix in groups:
        if ix.size >= 4:
            h = ix.size // 2
            null.append(_mmd(x[ix[:h]], x[ix[h:]], gamma))
    if not null:
        return pieces
    thr = np.percentile(null, q)
    def dist(i):
        a, b = groups[i], groups[i + 1]
        if a.size == 0 or b.size == 0:
            return 0.0
        return _mmd(x[a], x[b], gamma)
    ds = [dist(i) for i in range(len(groups) - 1)]
    while ds:
        i = int(np.argmin(ds))
        if ds[i] > thr:
            break
        groups[i] = np.concatenate([groups[i], groups[i + 1]]); del groups[i + 1]
        spans[i][1] = spans[i + 1][1]; del spans[i + 1]
        del ds[i]
        if i < len(ds):
            ds[i] = dist(i)
        if i > 0:
            ds[i - 1] = dist(i - 1)
    return [Segment(a, b, None) for a, b in spans]


def merge_both(pieces, feats, cents, t, e_thr, c_thr):
    """Agglomerative: merge the adjacent pair with the smallest (energy/e_thr + centroid/c_thr)
    while both its energy-mean and centroid-mean distances are below their thresholds."""
    groups = [np.flatnonzero((t >= p.start_sec) & (t < p.end_sec)) for p in pieces]
    spans = [[p.start_sec, p.end_sec] for p in pieces]
    def d(i):
        a, b = groups[i], groups[i + 1]
        if a.size == 0 or b.size == 0:
            return 0.0, 0.0
        e = float(np.linalg.norm(feats[a].mean(0) - feats[b].mean(0)))
        c = float(np.linalg.norm(cents[a].mean(0) - cents[b].mean(0)))
        return e, c
    ds = [d(i) for i in range(len(groups) - 1)]
    while ds:
        ok = [i for i, (e, c) in enumerate(ds) if e <= e_thr and c <= c_thr]
        if not ok:
            break
        i = min(ok, key=lambda j: ds[j][0] / e_thr + ds[j][1] / c_thr)
        groups[i] = np.concatenate([groups[i], groups[i + 1]]); del groups[i + 1]
        spans[i][1] = spans[i + 1][1]; del spans[i + 1]
        del ds[i]
        if i < len(ds):
            ds[i] = d(i)
        if i > 0:
            ds[i - 1] = d(i - 1)
    return [Segment(a, b, None) for a, b in spans]
