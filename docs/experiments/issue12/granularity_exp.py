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
