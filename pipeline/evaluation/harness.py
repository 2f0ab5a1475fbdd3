"""Evaluation harness: score a folder of predicted segment files against ground truth.

Files are paired by stem: ``<gt_dir>/<stem>.segments.json`` with
``<pred_dir>/<stem>.segments.json``.
Every ground-truth video is scored; a missing or invalid prediction is an error row with all
F1 / precision / recall values 0 (never silently dropped) and counts in the mean. Predictions
without ground truth are listed in ``extra_predictions``. The ground truth's duration is the
video's duration; a prediction whose duration differs by more than one frame is logged.
Metrics: ``pipeline.evaluation.metrics.score_segmentation`` (protocol of docs/evaluation.md), per
video, then the mean over videos. Baseline: ``uniform_segmentation`` (oracle K: the true number of
segments).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline.errors import EvaluationError, SegmentFileError
from pipeline.evaluation.metrics import (
    DEFAULT_IOUS,
    DEFAULT_TOLERANCES_SEC,
    mean_scores,
    score_segmentation,
)
from pipeline.segments.segfile import (
    SEGMENT_SUFFIX,
    Segment,
    SegmentFile,
    fill_gaps,
    read_segments,
    stem_of,
    write_segments,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VideoResult:
    """Scores of one video; ``error`` set when the prediction was missing or invalid."""

    stem: str
    scores: dict[str, float]
    error: str | None = None


@dataclass(frozen=True)
class EvalReport:
    """Per-video and mean scores plus the settings that produced them."""

    per_video: dict[str, VideoResult]
    tolerances: tuple[float, ...]
    ious: tuple[float, ...]
    exclude_labels: tuple[str, ...] = ()
    extra_predictions: tuple[str, ...] = ()
    name: str = ""
    mean: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "mean", mean_scores(r.scores for r in self.per_video.values()))

    @property
    def errors(self) -> dict[str, str]:
        return {s: r.error for s, r in self.per_video.items() if r.error is not None}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mean": self.mean,
            "per_video": {s: {**r.scores, "error": r.error} for s, r in self.per_video.items()},
            "errors": self.errors,
            "extra_predictions": list(self.extra_predictions),
            "n_videos": len(self.per_video),
            "config": {
                "tolerances_sec": list(self.tolerances),
                "ious": list(self.ious),
                "exclude_labels": list(self.exclude_labels),
            },
        }

    def to_json(self, *, indent: int = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False)

    def columns(self) -> list[str]:
        """Headline metric keys: boundary F1, precision and recall per tolerance, segment F1
        per IoU, counts (true, then predicted)."""
        return (
            [
                f"boundary_{m}@{float(t)!r}"
                for t in self.tolerances
                for m in ("f1", "precision", "recall")
            ]  # fmt: skip
            + [f"segment_f1@{float(i)!r}" for i in self.ious]
            + ["n_true", "n_pred"]
        )

    def to_markdown(self, *, per_video: bool = True) -> str:
        """A markdown table: one row per video (optional) and the mean row last."""
        cols = self.columns()
        head = "| video | " + " | ".join(cols) + " | error |"
        rule = "|---" * (len(cols) + 2) + "|"
        rows = [head, rule]
        if per_video:
            for stem, r in self.per_video.items():
                rows.append(_md_row(stem, r.scores, cols, r.error or ""))
        label = f"**mean ({self.name})**" if self.name else "**mean**"
        rows.append(_md_row(label, self.mean, cols, f"{len(self.errors)} errors"))
        return "\n".join(rows) + "\n"


def _md_row(label: str, scores: Mapping[str, float], cols: Sequence[str], note: str) -> str:
    cells = [format_score(scores.get(c, float("nan")), c) for c in cols]
    return f"| {label} | " + " | ".join(cells) + f" | {note} |"


def format_score(value: float, key: str) -> str:
    """A score as the tables print it: counts with one decimal, rates with three."""
    return f"{value:.1f}" if key.startswith("n_") else f"{value:.3f}"


def _zero_scores(gt: SegmentFile, **kw: Any) -> dict[str, float]:
    """The score keys with every rate 0 and the true counts kept (missing prediction)."""
    template = score_segmentation(gt.segments, gt.segments, duration_sec=gt.duration_sec, **kw)
    return {k: (v if k.startswith("n_true") else 0.0) for k, v in template.items()}


def evaluate_pair(
    gt: SegmentFile,
    pred: SegmentFile,
    *,
    tolerances: Sequence[float] = DEFAULT_TOLERANCES_SEC,
    ious: Sequence[float] = DEFAULT_IOUS,
    exclude_labels: Collection[str] = (),
) -> dict[str, float]:
    """Protocol metrics of one prediction against its ground truth (gt duration is used)."""
    if abs(pred.duration_sec - gt.duration_sec) > 1.0 / gt.fps:
        log.warning(
            "%s: predicted duration %.3f s differs from ground truth %.3f s",
            gt.video,
            pred.duration_sec,
            gt.duration_sec,
        )
    return score_segmentation(
        gt.segments,
        pred.segments,
        duration_sec=gt.duration_sec,
        tolerances=tolerances,
        ious=ious,
        exclude_labels=exclude_labels,
    )


def _index(folder: Path) -> dict[str, Path]:
    return {stem_of(p): p for p in sorted(folder.glob(f"*{SEGMENT_SUFFIX}"))}


def evaluate_dirs(
    gt_dir: str | Path,
    pred_dir: str | Path,
    *,
    tolerances: Sequence[float] = DEFAULT_TOLERANCES_SEC,
    ious: Sequence[float] = DEFAULT_IOUS,
    exclude_labels: Collection[str] = (),
    name: str = "",
) -> EvalReport:
    """Score every ``<stem>.segments.json`` of ``gt_dir`` against ``pred_dir`` (module doc)."""
    gt_dir, pred_dir = Path(gt_dir), Path(pred_dir)
    for folder in (gt_dir, pred_dir):
        if not folder.is_dir():
            raise EvaluationError(f"folder not found: {folder}")
    gts = _index(gt_dir)
    preds = _index(pred_dir)
    if not gts:
        raise EvaluationError(f"no *{SEGMENT_SUFFIX} files in {gt_dir}")
    kw: dict[str, Any] = dict(tolerances=tolerances, ious=ious, exclude_labels=exclude_labels)
    results: dict[str, VideoResult] = {}
    for stem, gt_path in gts.items():
        gt = read_segments(gt_path)  # invalid ground truth is fatal: fix the annotation
        results[stem] = _score_one(stem, gt, preds.get(stem), kw)
    extra = tuple(sorted(set(preds) - set(gts)))
    if extra:
        log.warning("%d predictions without ground truth: %s", len(extra), list(extra)[:5])
    report = EvalReport(
        results, tuple(tolerances), tuple(ious), tuple(sorted(exclude_labels)), extra, name
    )
    log.info("evaluated %d videos (%d errors) from %s", len(results), len(report.errors), pred_dir)
    return report


def _score_one(
    stem: str, gt: SegmentFile, pred_path: Path | None, kw: dict[str, Any]
) -> VideoResult:
    if pred_path is None:
        log.error("%s: prediction missing", stem)
        return VideoResult(stem, _zero_scores(gt, **kw), "missing prediction")
    try:
        pred = read_segments(pred_path)
    except SegmentFileError as exc:
        log.error("%s: invalid prediction: %s", stem, exc)
        return VideoResult(stem, _zero_scores(gt, **kw), f"invalid prediction: {exc}")
    return VideoResult(stem, evaluate_pair(gt, pred, **kw))


def uniform_segmentation(duration_sec: float, k: int, *, label: str | None = None) -> list[Segment]:
    """``k`` equal segments covering ``[0, duration_sec]`` (the oracle-K baseline)."""
    if k < 1 or duration_sec <= 0:
        raise ValueError(f"need k >= 1 and duration > 0, got k={k}, duration={duration_sec}")
    edges = [duration_sec * i / k for i in range(k + 1)]
    return [Segment(a, b, label) for a, b in zip(edges[:-1], edges[1:], strict=True)]


def true_segment_count(gt: SegmentFile) -> int:
    """The number of segments of a ground truth as the metrics count them (on the contiguous
    segmentation: idle gaps filled); what the oracle baselines are given."""
    return len(fill_gaps(gt.segments, duration_sec=gt.duration_sec))


def true_counts(gt_dir: str | Path) -> dict[str, int]:
    """stem -> ``true_segment_count`` of every ground-truth file of ``gt_dir``."""
    return {stem: true_segment_count(read_segments(p)) for stem, p in _index(Path(gt_dir)).items()}


def write_uniform_baseline(gt_dir: str | Path, out_dir: str | Path) -> list[Path]:
    """Write, for every ground-truth file, a uniform split with its true number of segments
    (``true_segment_count``)."""
    written: list[Path] = []
    for stem, path in _index(Path(gt_dir)).items():
        gt = read_segments(path)
        k = true_segment_count(gt)
        segs = tuple(uniform_segmentation(gt.duration_sec, max(k, 1)))
        out = SegmentFile(gt.video, gt.fps, gt.duration_sec, segs, {"method": "uniform_oracle_k"})
        written.append(write_segments(Path(out_dir) / f"{stem}{SEGMENT_SUFFIX}", out))
    return written
