"""Segmentation metrics of the evaluation protocol (docs/evaluation.md).

- **Boundary F1 at a tolerance** (seconds): interior boundaries only (every segment start and end
  except those within ``eps`` of 0 or of the video end), de-duplicated (boundaries closer than
  ``eps`` are one boundary), matched ONE-TO-ONE: each true boundary matches at most one predicted
  boundary within ``+-tol`` and vice versa, and the number of matches is maximal. Because all
  tolerance intervals have the same length, a two-pointer sweep in time order gives a maximum
  matching (exchange argument; cross-checked against a bipartite matcher in the tests).
- **Segment F1 at an IoU threshold**: segments matched one-to-one (maximum bipartite matching on
  the pairs with IoU >= threshold). By default the segmentations are made contiguous first
  (gaps become ``"idle"`` segments) and every segment counts, idle ones included: a segmenter
  is judged on the whole timeline it claims. ``exclude_labels`` drops segments by label (e.g.
  ``{"idle"}``) from both sides before segment matching; boundaries are unaffected.
- **Counts**: ``n_true`` / ``n_pred`` segments (after filling), and boundary counts.

Empty-set convention: precision is 1 when nothing is predicted and nothing is true (0 when
something is true), recall likewise; F1 is 0 whenever precision + recall is 0.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import maximum_bipartite_matching

from pipeline.segments.segfile import Segment, fill_gaps

DEFAULT_TOLERANCES_SEC: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0)
DEFAULT_IOUS: tuple[float, ...] = (0.1, 0.25, 0.5)
BOUNDARY_EPS_SEC = 0.05  # half a frame at 10 fps: closer boundaries are the same boundary
_FLOAT_SLACK = 1e-9


@dataclass(frozen=True)
class MatchScore:
    """Counts of a one-to-one matching and the derived precision / recall / F1."""

    tp: int
    n_pred: int
    n_true: int

    @property
    def precision(self) -> float:
        if self.n_pred == 0:
            return 1.0 if self.n_true == 0 else 0.0
        return self.tp / self.n_pred

    @property
    def recall(self) -> float:
        if self.n_true == 0:
            return 1.0 if self.n_pred == 0 else 0.0
        return self.tp / self.n_true

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def dedup_boundaries(times: Iterable[float], *, eps: float = BOUNDARY_EPS_SEC) -> np.ndarray:
    """Sorted boundary times with chains of neighbours closer than ``eps`` kept once (first)."""
    t = np.sort(np.asarray(list(times), dtype=float))
    if t.size == 0:
        return t
    keep = np.concatenate([[True], np.diff(t) >= eps])
    return t[keep]


def interior_boundaries(
    segments: Sequence[Segment], *, duration_sec: float, eps: float = BOUNDARY_EPS_SEC
) -> np.ndarray:
    """Interior, de-duplicated boundary times (s) of a segmentation: starts and ends of all
    segments, without those within ``eps`` of 0 or ``duration_sec``."""
    raw = [s.start_sec for s in segments] + [s.end_sec for s in segments]
    t = dedup_boundaries(raw, eps=eps)
    return t[(t > eps) & (t < duration_sec - eps)]


def match_boundaries(true_sec: np.ndarray, pred_sec: np.ndarray, *, tol: float) -> int:
    """Size of a maximum one-to-one matching with ``|t - p| <= tol`` (both sorted ascending)."""
    true_sec = np.sort(np.asarray(true_sec, dtype=float))
    pred_sec = np.sort(np.asarray(pred_sec, dtype=float))
    j, tp = 0, 0
    for t in true_sec:
        while j < pred_sec.size and pred_sec[j] < t - tol - _FLOAT_SLACK:
            j += 1
        if j < pred_sec.size and pred_sec[j] <= t + tol + _FLOAT_SLACK:
            tp += 1
            j += 1
    return tp


def boundary_score(true_sec: np.ndarray, pred_sec: np.ndarray, *, tol: float) -> MatchScore:
    """One-to-one boundary matching score at tolerance ``tol`` seconds."""
    if tol < 0:
        raise ValueError(f"tolerance must be >= 0 s, got {tol}")
    tp = match_boundaries(true_sec, pred_sec, tol=tol)
    return MatchScore(tp=tp, n_pred=int(np.size(pred_sec)), n_true=int(np.size(true_sec)))


def _spans(segments: Sequence[Segment]) -> np.ndarray:
    return np.array([[s.start_sec, s.end_sec] for s in segments], dtype=float).reshape(-1, 2)


def segment_iou(true_spans: np.ndarray, pred_spans: np.ndarray) -> np.ndarray:
    """(n_true, n_pred) temporal IoU of ``[start, end)`` spans given as (n, 2) arrays."""
    a, b = true_spans[:, None, :], pred_spans[None, :, :]
    inter = np.clip(np.minimum(a[..., 1], b[..., 1]) - np.maximum(a[..., 0], b[..., 0]), 0, None)
    union = (a[..., 1] - a[..., 0]) + (b[..., 1] - b[..., 0]) - inter
    return np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)


def segment_score(
    true_segments: Sequence[Segment], pred_segments: Sequence[Segment], *, iou: float
) -> MatchScore:
    """Maximum one-to-one matching of segments with IoU >= ``iou``."""
    if not 0 < iou <= 1:
        raise ValueError(f"IoU threshold must be in (0, 1], got {iou}")
    n, m = len(true_segments), len(pred_segments)
    if n == 0 or m == 0:
        return MatchScore(tp=0, n_pred=m, n_true=n)
    ok = segment_iou(_spans(true_segments), _spans(pred_segments)) >= iou - _FLOAT_SLACK
    match = maximum_bipartite_matching(csr_matrix(ok.astype(np.int8)), perm_type="column")
    return MatchScore(tp=int(np.sum(match >= 0)), n_pred=m, n_true=n)


def score_segmentation(
    true_segments: Sequence[Segment],
    pred_segments: Sequence[Segment],
    *,
    duration_sec: float,
    tolerances: Sequence[float] = DEFAULT_TOLERANCES_SEC,
    ious: Sequence[float] = DEFAULT_IOUS,
    exclude_labels: Collection[str] = (),
    fill: bool = True,
    eps: float = BOUNDARY_EPS_SEC,
) -> dict[str, float]:
    """All protocol metrics of one video as a flat dict.

    Keys: ``boundary_{f1,precision,recall}@{tol}``, ``segment_{f1,precision,recall}@{iou}``,
    ``n_true``, ``n_pred`` (segments), ``n_true_boundaries``, ``n_pred_boundaries``.
    """
    if fill:
        true_segments = fill_gaps(true_segments, duration_sec=duration_sec)
        pred_segments = fill_gaps(pred_segments, duration_sec=duration_sec)
    tb = interior_boundaries(true_segments, duration_sec=duration_sec, eps=eps)
    pb = interior_boundaries(pred_segments, duration_sec=duration_sec, eps=eps)
    out: dict[str, float] = {}
    for tol in tolerances:
        _put(out, "boundary", tol, boundary_score(tb, pb, tol=tol))
    ts = [s for s in true_segments if s.label not in exclude_labels]
    ps = [s for s in pred_segments if s.label not in exclude_labels]
    for thr in ious:
        _put(out, "segment", thr, segment_score(ts, ps, iou=thr))
    out.update(
        n_true=float(len(ts)),
        n_pred=float(len(ps)),
        n_true_boundaries=float(tb.size),
        n_pred_boundaries=float(pb.size),
    )
    return out


def _put(out: dict[str, float], kind: str, at: float, score: MatchScore) -> None:
    key = f"@{float(at)!r}"  # 1 -> "@1.0", 0.25 -> "@0.25"
    out[f"{kind}_f1{key}"] = score.f1
    out[f"{kind}_precision{key}"] = score.precision
    out[f"{kind}_recall{key}"] = score.recall


def mean_scores(per_video: Iterable[Mapping[str, float]]) -> dict[str, float]:
    """Key-wise mean over videos (keys missing in a video raise ``KeyError`` naming it)."""
    rows = list(per_video)
    if not rows:
        return {}
    keys = list(rows[0])
    for i, row in enumerate(rows):
        missing = set(keys) - set(row)
        if missing:
            raise KeyError(f"video {i} lacks metrics {sorted(missing)}")
    return {k: float(np.mean([row[k] for row in rows])) for k in keys}
