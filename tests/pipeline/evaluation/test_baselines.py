"""Baselines from a store: valid contiguous files, per-station calibration, oracle K."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import BaselineError
from pipeline.evaluation.baselines import (
    BASELINE_NAMES,
    load_store_videos,
    method_settings,
    write_baselines,
)
from pipeline.evaluation.kernel_oracle import KERNEL_ORACLE
from pipeline.segments.segfile import read_segments
from pipeline.segments.segmenters import HysteresisParams


def _contiguous(path: Path) -> list[tuple[float, float, str | None]]:
    f = read_segments(path)  # validates the schema
    spans = [(s.start_sec, s.end_sec, s.label) for s in f.segments]
    assert spans[0][0] == 0.0 and spans[-1][1] == pytest.approx(f.duration_sec)
    for (_, end, _), (start, _, _) in zip(spans[:-1], spans[1:], strict=True):
        assert start == pytest.approx(end)
    return spans


def test_load_store_videos(tmp_path: Path, store_factory: Callable[..., Path], specs) -> None:
    store = store_factory(tmp_path / "store", specs)
    videos = load_store_videos(store)
    assert list(videos) == ["s1_a", "s1_b", "s2_a"]
    v = videos["s2_a"]
    assert v.station == "s2" and v.duration_sec == 24.0 and v.fps == 10.0
    n = int(np.floor((24.0 - 1.5) / 0.4)) + 1  # full windows of a 24 s video
    assert v.window_index.tolist() == list(range(n))
    assert v.series("flow_magnitude").t_sec[0] == pytest.approx(0.75)


def test_baselines_write_valid_files(
    tmp_path: Path, store_factory: Callable[..., Path], specs, gt_for_specs: Path
) -> None:
    store = store_factory(tmp_path / "store", specs)
    # this store has no codes or track files: the kernel oracle (test_kernel_oracle.py) needs them
    names = [n for n in BASELINE_NAMES if n != KERNEL_ORACLE]
    folders = write_baselines(store, gt_for_specs, tmp_path / "bl", names=names)
    assert list(folders) == names
    for name, folder in folders.items():
        files = sorted(p.name for p in folder.glob("*.segments.json"))
        assert files == [f"{s.stem}.segments.json" for s in specs], name
        for spec in specs:
            path = folder / f"{spec.stem}.segments.json"
            spans = _contiguous(path)
            assert read_segments(path).duration_sec == spec.duration
            if name == "uniform_oracle_k":
                continue
            active = [(a, b) for a, b, label in spans if label == "active"]
            assert len(active) == len(spec.active), (name, spec.stem, spans)
            for (a, b), (ta, tb) in zip(active, spec.active, strict=True):
                assert abs(a - ta) <= 1.0 and abs(b - tb) <= 1.5, (name, spec.stem, spans)
    again = write_baselines(store, gt_for_specs, tmp_path / "bl2", names=names)  # deterministic
    for name, folder in folders.items():
        for path in folder.glob("*.segments.json"):
            assert path.read_bytes() == (again[name] / path.name).read_bytes(), name
    meta = read_segments(folders["flow_energy"] / "s2_a.segments.json").meta
    assert meta["baseline"] == "flow_energy" and meta["station"] == "s2"
    assert meta["oracle"] is False and meta["energy"] == "flow_magnitude"


def test_calibration_is_per_station(
    tmp_path: Path, store_factory: Callable[..., Path], specs, gt_for_specs: Path
) -> None:
    store = store_factory(tmp_path / "store", specs)
    folders = write_baselines(store, gt_for_specs, tmp_path / "bl", names=["pixel_diff"])
    assert list(folders) == ["pixel_diff"]
    thr = {
        s.stem: read_segments(folders["pixel_diff"] / f"{s.stem}.segments.json").meta[
            "calibration"
        ]["thr_on"]
        for s in specs
    }
    assert thr["s1_a"] == thr["s1_b"]  # one threshold per station
    assert thr["s1_a"] != thr["s2_a"]


def test_uniform_oracle_uses_true_k(tmp_path: Path, segfile_factory: Callable[..., Path]) -> None:
    gt = tmp_path / "gt"
    # 2 labelled spans with idle gaps -> contiguous truth: idle, a, b, idle = 4 segments
    segfile_factory(gt, "v", [(2.0, 5.0), (5.0, 8.0)], 10.0)
    folders = write_baselines(
        tmp_path / "no-store", gt, tmp_path / "bl", names=["uniform_oracle_k"]
    )
    f = read_segments(folders["uniform_oracle_k"] / "v.segments.json")
    assert [(s.start_sec, s.end_sec) for s in f.segments] == [
        (0.0, 2.5),
        (2.5, 5.0),
        (5.0, 7.5),
        (7.5, 10.0),
    ]
    assert f.meta["method"] == "uniform_oracle_k"


def test_store_problems_raise(tmp_path: Path, gt_for_specs: Path) -> None:
    with pytest.raises(BaselineError, match="tables/videos"):
        write_baselines(tmp_path / "empty", gt_for_specs, tmp_path / "bl", names=["track_speed"])
    with pytest.raises(BaselineError, match="unknown"):
        write_baselines(tmp_path / "empty", gt_for_specs, tmp_path / "bl", names=["nope"])


def test_method_settings_from_prediction_meta(
    tmp_path: Path, segfile_factory: Callable[..., Path]
) -> None:
    pred = tmp_path / "pred"
    assert method_settings(pred).source == "defaults"
    hyst = HysteresisParams.model_validate({"thr_on": 0.3, "max_len_sec": 2.0, "up": 3})
    meta = {
        "hysteresis": hyst.model_dump(mode="json"),
        "calibration": {"method": "gmm", "transform": "log"},
    }
    segfile_factory(pred, "b", [(1.0, 2.0)], 5.0, meta=meta)
    segfile_factory(pred, "a", [(1.0, 2.0)], 5.0)  # no meta: ignored
    got = method_settings(pred)
    assert got.params == hyst.model_copy(update={"thr_on": 1.0})  # thr_on is recalibrated
    assert got.calibration_method == "gmm" and got.transform == "log"
    assert got.source == "b.segments.json"
    failed = {"hysteresis": {**meta["hysteresis"], "thr_on": None}, "calibration": {"error": "x"}}
    segfile_factory(pred, "0", [(1.0, 2.0)], 5.0, meta=failed)  # a station that failed first
    assert method_settings(pred).source == "b.segments.json"  # names its method: preferred
    (pred / "b.segments.json").unlink()
    assert method_settings(pred).calibration_method == "otsu"
    assert method_settings(pred).params.up == 3
    segfile_factory(pred, "b", [(1.0, 2.0)], 5.0, meta=meta)
    bad = json.loads((pred / "b.segments.json").read_text())
    bad["meta"]["calibration"]["method"] = "magic"
    (pred / "b.segments.json").write_text(json.dumps(bad))
    with pytest.raises(BaselineError, match="magic"):
        method_settings(pred)
