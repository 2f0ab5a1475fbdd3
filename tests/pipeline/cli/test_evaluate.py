"""`laps eval` through click's CliRunner: table, JSON shape, errors, baselines, plots, append."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from pipeline.cli.evaluate import eval_
from pipeline.cli.main import main
from pipeline.evaluation.baselines import BASELINE_NAMES
from pipeline.evaluation.kernel_oracle import KERNEL_ORACLE

METRICS = {"boundary_f1@0.5", "boundary_f1@1.0", "boundary_f1@2.0", "boundary_f1@5.0"}
METRICS |= {"segment_f1@0.1", "segment_f1@0.25", "segment_f1@0.5", "n_true", "n_pred"}


def _table_rows(stdout: str) -> list[list[str]]:
    lines = [ln for ln in stdout.splitlines() if ln.startswith("|")]
    return [[c.strip() for c in ln.strip("|").split("|")] for ln in lines]


@pytest.fixture
def pair(tmp_path: Path, segfile_factory: Callable[..., Path]) -> tuple[Path, Path]:
    """gt: a (2 boundaries), b (1 boundary); pred: a perfect, b missing."""
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    segfile_factory(gt, "a", [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0)], 12.0)
    segfile_factory(gt, "b", [(0.0, 5.0), (5.0, 10.0)], 10.0)
    segfile_factory(pred, "a", [(0.0, 4.0), (4.0, 8.0), (8.0, 12.0)], 12.0)
    return gt, pred


def test_eval_command_is_registered() -> None:
    import click

    ctx = click.Context(main)
    assert "eval" in main.list_commands(ctx)
    assert main.get_command(ctx, "eval") is eval_


def test_perfect_and_missing(pair: tuple[Path, Path], tmp_path: Path) -> None:
    gt, pred = pair
    out_json = tmp_path / "out" / "scores.json"
    res = CliRunner().invoke(eval_, ["--gt", str(gt), "--pred", str(pred), "--json", str(out_json)])
    assert res.exit_code == 0, res.output
    rows = _table_rows(res.stdout)
    assert rows[0][0] == "method" and rows[0][1] == "boundary_f1@0.5"
    assert len(rows) == 3  # header, rule, one method
    assert rows[2][0] == "prediction" and rows[2][1] == "0.500" and rows[2][-1] == "1"
    assert "b: missing prediction" in res.stderr
    data = json.loads(out_json.read_text())
    assert set(data) >= {"mean", "per_video", "errors", "baselines", "baseline_settings"}
    assert set(data["mean"]) >= METRICS
    assert data["per_video"]["a"]["boundary_f1@0.5"] == 1.0
    assert data["per_video"]["a"]["segment_f1@0.5"] == 1.0
    assert data["per_video"]["a"]["error"] is None
    assert data["per_video"]["b"]["boundary_f1@5.0"] == 0.0
    assert data["per_video"]["b"]["n_true"] == 2.0 and data["per_video"]["b"]["n_pred"] == 0.0
    assert data["errors"] == {"b": "missing prediction"}
    assert data["mean"]["boundary_f1@1.0"] == 0.5
    assert data["mean"]["n_true"] == 2.5  # (3 + 2) / 2
    assert data["baselines"] == {} and data["baseline_settings"] is None


def test_strict_exits_nonzero_on_errors(pair: tuple[Path, Path]) -> None:
    gt, pred = pair
    res = CliRunner().invoke(eval_, ["--gt", str(gt), "--pred", str(pred), "--strict"])
    assert res.exit_code == 3


def test_baselines_plots_and_append(
    tmp_path: Path,
    store_factory: Callable[..., Path],
    segfile_factory: Callable[..., Path],
    specs,
    gt_for_specs: Path,
) -> None:
    pred = store_factory(tmp_path / "pred", specs)  # a store root, no energy table
    meta = {"segmenter": "lae_hysteresis"}
    for spec in specs:
        segfile_factory(pred, spec.stem, spec.active, spec.duration, meta=meta)
    bench, plots, out_json = tmp_path / "B.md", tmp_path / "plots", tmp_path / "s.json"
    args = ["--gt", str(gt_for_specs), "--pred", str(pred), "--baselines", "--json", str(out_json)]
    args += ["--plots", str(plots), "--benchmarks-md", str(bench), "--append"]
    res = CliRunner().invoke(eval_, [*args, "--dataset", "tiny | synthetic"])
    assert res.exit_code == 0, res.output
    methods = [r[0] for r in _table_rows(res.stdout)[2:]]
    assert methods == ["lae_hysteresis", *BASELINE_NAMES]
    data = json.loads(out_json.read_text())
    assert data["name"] == "lae_hysteresis" and data["mean"]["boundary_f1@0.5"] == 1.0
    assert list(data["baselines"]) == list(BASELINE_NAMES)
    oracle = data["baselines"]["uniform_oracle_k"]
    assert oracle["mean"]["n_pred"] == oracle["mean"]["n_true"]
    for name in BASELINE_NAMES:
        assert set(data["baselines"][name]["per_video"]) == {s.stem for s in specs}
        if name != KERNEL_ORACLE:
            assert data["baselines"][name]["errors"] == {}
    # this tiny store has no codes or track files: the kernel oracle is a listed failure
    kernel = data["baselines"][KERNEL_ORACLE]
    assert set(kernel["errors"]) == {s.stem for s in specs}
    said = " ".join(res.stderr.split())  # rich wraps long lines
    assert f"baseline {KERNEL_ORACLE} failed" in said and "no codes table" in said
    assert data["baselines"]["flow_energy"]["mean"]["boundary_f1@2.0"] == 1.0
    assert data["baseline_settings"]["calibration_method"] == "otsu"
    assert sorted(p.name for p in plots.glob("*.png")) == [f"{s.stem}.png" for s in specs]
    assert (pred / "eval_baselines" / "flow_energy" / "s1_a.segments.json").exists()
    text = bench.read_text()
    assert "## Quality: `laps eval`" in text
    assert text.count("| tiny \\| synthetic |") == 1 + len(BASELINE_NAMES)


def test_baselines_without_store_are_errors(pair: tuple[Path, Path], tmp_path: Path) -> None:
    gt, pred = pair
    out_json = tmp_path / "s.json"
    res = CliRunner().invoke(
        eval_, ["--gt", str(gt), "--pred", str(pred), "--baselines", "--json", str(out_json)]
    )
    assert res.exit_code == 0, res.output
    assert "baseline flow_energy failed" in res.stderr
    data = json.loads(out_json.read_text())
    flow = data["baselines"]["flow_energy"]
    assert flow["errors"] == {"a": "missing prediction", "b": "missing prediction"}
    assert flow["mean"]["boundary_f1@5.0"] == 0.0
    assert data["baselines"]["uniform_oracle_k"]["errors"] == {}
    # b: 2 true segments split at 5.0 s -> the oracle's uniform split is exact
    assert data["baselines"]["uniform_oracle_k"]["per_video"]["b"]["boundary_f1@0.5"] == 1.0


def test_plots_from_energy_table(
    tmp_path: Path,
    store_factory: Callable[..., Path],
    segfile_factory: Callable[..., Path],
    specs,
    gt_for_specs: Path,
) -> None:
    pred = store_factory(tmp_path / "pred", specs[:1], energy=True)
    segfile_factory(pred, specs[0].stem, specs[0].active, specs[0].duration)
    plots = tmp_path / "plots"
    res = CliRunner().invoke(
        eval_, ["--gt", str(gt_for_specs), "--pred", str(pred), "--plots", str(plots)]
    )
    assert res.exit_code == 0, res.output
    assert [p.name for p in plots.glob("*.png")] == [f"{specs[0].stem}.png"]
    assert "no energy for s2_a" in res.stderr  # not in this store: logged, no plot


def test_missing_gt_folder_is_a_usage_error(tmp_path: Path) -> None:
    (tmp_path / "gt").mkdir()
    res = CliRunner().invoke(eval_, ["--gt", str(tmp_path / "gt"), "--pred", str(tmp_path)])
    assert res.exit_code != 0 and "no *.segments.json" in res.output


def test_the_cli_loads_no_torch_until_a_command_needs_it() -> None:
    # a worker process imports the CLI as its parent's __main__ (pipeline.workers), and
    # `laps query` needs none of it: the heavy command modules load only when run
    import subprocess
    import sys

    probe = (
        "import sys, pipeline.cli.main; "
        "heavy = ('torch', 'lightning', 'pipeline.cli.segment'); "
        "print(sorted(k for k in heavy if k in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
