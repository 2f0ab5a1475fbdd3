"""Evaluation harness over folders: pairing by stem, missing predictions, reports, baseline."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.errors import EvaluationError
from pipeline.evaluation.harness import evaluate_dirs, uniform_segmentation, write_uniform_baseline
from pipeline.segments.segfile import Segment, SegmentFile, write_segments


def _write(folder: Path, stem: str, edges: list[float], fps: float = 10.0) -> None:
    segs = tuple(Segment(a, b, "x") for a, b in zip(edges[:-1], edges[1:], strict=True))
    write_segments(
        folder / f"{stem}.segments.json", SegmentFile(f"{stem}.mp4", fps, edges[-1], segs)
    )


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    _write(gt, "a", [0, 4, 8, 12])
    _write(gt, "b", [0, 5, 10])
    _write(gt, "c", [0, 6, 12])
    _write(pred, "a", [0, 4, 8, 12])  # perfect
    _write(pred, "b", [0, 5.8, 10])  # boundary off by 0.8 s
    _write(pred, "zz", [0, 1, 2])  # no ground truth
    (pred / "c.segments.json").write_text('{"video": "c.mp4"}')  # invalid
    return gt, pred


def test_scores_errors_and_mean(dirs: tuple[Path, Path]) -> None:
    rep = evaluate_dirs(*dirs, name="test")
    assert rep.per_video["a"].scores["boundary_f1@0.5"] == 1.0
    assert rep.per_video["b"].scores["boundary_f1@0.5"] == 0.0
    assert rep.per_video["b"].scores["boundary_f1@1.0"] == 1.0
    assert rep.per_video["c"].error is not None and "invalid" in rep.per_video["c"].error
    assert rep.per_video["c"].scores["boundary_f1@5.0"] == 0.0
    assert rep.per_video["c"].scores["n_true"] == 2.0
    assert rep.mean["boundary_f1@1.0"] == pytest.approx(2 / 3)  # the error counts as 0
    assert rep.extra_predictions == ("zz",)


def test_missing_prediction_is_an_error_row(dirs: tuple[Path, Path]) -> None:
    gt, pred = dirs
    (pred / "a.segments.json").unlink()
    rep = evaluate_dirs(gt, pred)
    assert rep.errors["a"] == "missing prediction"
    assert rep.per_video["a"].scores["segment_f1@0.1"] == 0.0


def test_json_and_markdown(dirs: tuple[Path, Path]) -> None:
    rep = evaluate_dirs(*dirs, name="test")
    data = json.loads(rep.to_json())
    assert set(data) >= {"mean", "per_video", "errors", "extra_predictions", "config"}
    assert {"boundary_f1@1.0", "segment_f1@0.5", "n_pred", "n_true"} <= set(data["mean"])
    assert data["per_video"]["a"]["error"] is None
    md = rep.to_markdown()
    lines = md.strip().splitlines()
    assert lines[0].startswith("| video | boundary_f1@0.5")
    assert len(lines) == 2 + 3 + 1 and "**mean (test)**" in lines[-1]


def test_missing_folders_raise(tmp_path: Path) -> None:
    with pytest.raises(EvaluationError):
        evaluate_dirs(tmp_path / "nope", tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvaluationError, match="no"):
        evaluate_dirs(tmp_path / "empty", tmp_path)


def test_uniform_baseline(tmp_path: Path) -> None:
    assert [(s.start_sec, s.end_sec) for s in uniform_segmentation(9.0, 3)] == [
        (0, 3),
        (3, 6),
        (6, 9),
    ]
    with pytest.raises(ValueError):
        uniform_segmentation(9.0, 0)
    gt, out = tmp_path / "gt", tmp_path / "uni"
    _write(gt, "u", [0, 3, 6, 9])  # uniform truth: the oracle-K baseline is perfect
    _write(gt, "v", [0, 1, 9])
    write_uniform_baseline(gt, out)
    rep = evaluate_dirs(gt, out)
    assert rep.per_video["u"].scores["boundary_f1@0.5"] == 1.0
    assert rep.per_video["v"].scores["n_pred"] == 2.0
    assert rep.per_video["v"].scores["boundary_f1@2.0"] == 0.0  # 4.5 vs 1.0
