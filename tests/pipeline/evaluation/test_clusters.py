"""Cluster quality against true labels: the metrics on known answers, and the report (CLI and
function) on a real segmented store whose videos have ground truth."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner

from pipeline.cli.main import main
from pipeline.errors import EvaluationError
from pipeline.evaluation.clusters import evaluate_clusters, purity, scores, true_labels
from pipeline.io.storage import LocalStorage


def test_metrics_on_known_answers():
    truth = ["a", "a", "b", "b", "c", "c"]
    assert scores(truth, [0, 0, 1, 1, 2, 2]) == {"nmi": 1.0, "ari": 1.0, "purity": 1.0}
    assert scores(truth, [5, 5, 9, 9, 7, 7])["nmi"] == 1.0  # ids are arbitrary
    assert purity(truth, [0, 0, 0, 0, 0, 0]) == pytest.approx(2 / 6)
    assert purity(truth, [0, 1, 2, 3, 4, 5]) == 1.0  # singletons are pure (hence NMI and ARI)
    assert scores(truth, [0, 1, 0, 1, 0, 1])["ari"] < 0


@pytest.fixture
def gt_dir(segmented_store, tmp_path):
    """The renderer's ground truth of the store's three videos, in one folder."""
    gt = tmp_path / "gt"
    gt.mkdir()
    for f in segmented_store.parent.glob("in-*/*.segments.json"):
        shutil.copy(f, gt / f.name)
    assert len(list(gt.iterdir())) == 3
    return gt


def test_each_predicted_segment_takes_the_label_it_overlaps_most(segmented_store, gt_dir):
    from pipeline.discovery.stage import load_items
    from pipeline.segments.segfile import read_segments

    store = LocalStorage(segmented_store)
    items = load_items(store)
    labels = true_labels(store, gt_dir, items)
    assert len(labels) == len(items) and None not in labels
    gts = {f.name.split(".")[0]: read_segments(f).segments for f in gt_dir.iterdir()}
    truth = [s for segs in gts.values() for s in segs]
    for it, lab in zip(items, labels, strict=True):
        overlaps = {}
        for s in truth:
            ov = min(s.end_sec, it.end_sec) - max(s.start_sec, it.start_sec)
            if ov > 0:
                overlaps[s.label] = max(overlaps.get(s.label, 0), ov)
        assert lab in overlaps and overlaps[lab] == max(overlaps.values())


def test_the_report_scores_every_embedding_and_the_cli_prints_and_writes_it(
    segmented_store, gt_dir, tmp_path
):
    current = (segmented_store / "models/primitive_library/current.json").read_bytes()
    report = evaluate_clusters(LocalStorage(segmented_store), gt_dir, embeddings=["code_bag"])
    (row,) = report["rows"]
    assert row["embedding"] == "code_bag" and row["k_true"] == len(report["labels"])
    for key in ("nmi_auto", "purity_auto", "nmi_true_k", "purity_true_k"):
        assert 0.0 <= row[key] <= 1.0
    out = tmp_path / "r.json"
    args = ["eval-clusters", "--store", str(segmented_store), "--gt", str(gt_dir), "--embedding",
            "motion_summary", "--embedding", "code_bag", "--json", str(out)]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "| motion_summary |" in result.output and "| code_bag |" in result.output
    saved = json.loads(out.read_text())
    assert [r["embedding"] for r in saved["rows"]] == ["motion_summary", "code_bag"]
    assert saved["segments"] == report["segments"]
    # the store was only read: the library in use is unchanged
    assert (segmented_store / "models/primitive_library/current.json").read_bytes() == current


def test_no_ground_truth_is_a_clear_error(segmented_store, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvaluationError, match="ground truth"):
        evaluate_clusters(LocalStorage(segmented_store), tmp_path / "empty")
    result = CliRunner().invoke(main, ["eval-clusters", "--store", str(segmented_store),
                                       "--gt", str(tmp_path / "empty")])  # fmt: skip
    assert result.exit_code == 2 and "Traceback" not in result.output
