"""``kernel_cpd_oracle_k`` on a real store (the block video: motion from 4 s to 8 s of 12 s)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import BaselineError
from pipeline.evaluation.baselines import write_baselines
from pipeline.evaluation.kernel_oracle import KERNEL_ORACLE, write_kernel_oracle
from pipeline.segments.segfile import Segment, SegmentFile, read_segments, write_segments


def _gt(folder: Path, bounds: list[float], duration: float = 12.0) -> Path:
    edges = [0.0, *bounds, duration]
    segs = tuple(Segment(a, b, "work") for a, b in zip(edges[:-1], edges[1:], strict=True))
    write_segments(folder / "block.segments.json", SegmentFile("block.mp4", 30.0, duration, segs))
    return folder


def _bounds(path: Path) -> list[float]:
    return [s.start_sec for s in read_segments(path).segments[1:]]


def test_kernel_oracle_finds_the_motion_boundaries_with_the_true_count(
    block_store, tmp_path: Path
) -> None:
    # the true count is 3; the truth's own times are deliberately off the motion (a uniform
    # split of 12 s into 3 would sit at 4 and 8 too, so the check is on the features, below)
    gt = _gt(tmp_path / "gt", [3.0, 9.0])
    out = tmp_path / "oracle"
    [path] = write_kernel_oracle(block_store.root, gt, out)
    seg = read_segments(path)
    assert seg.meta["baseline"] == KERNEL_ORACLE and seg.meta["oracle"] is True
    assert seg.meta["n_true"] == 3 and len(seg.segments) == 3
    # the boundaries follow the video's motion (4 s, 8 s), not the truth's times (3 s, 9 s)
    assert _bounds(path) == pytest.approx(list(block_store.move), abs=0.5)
    again = write_kernel_oracle(block_store.root, gt, tmp_path / "again")
    assert again[0].read_bytes() == path.read_bytes()


def test_kernel_oracle_caps_a_count_the_video_cannot_hold(block_store, tmp_path: Path) -> None:
    gt = _gt(tmp_path / "gt", [0.1 * k for k in range(1, 100)])  # 100 segments in 12 s
    [path] = write_kernel_oracle(block_store.root, gt, tmp_path / "oracle")
    segs = read_segments(path).segments
    assert 2 <= len(segs) < 100
    assert min(s.end_sec - s.start_sec for s in segs) >= 0.5 - 1e-9  # MIN_SIZE_SEC


def test_kernel_oracle_without_codes_is_a_baseline_failure(
    tmp_path: Path, store_factory, specs, gt_for_specs: Path
) -> None:
    store = store_factory(tmp_path / "store", specs)  # videos + windows only
    with pytest.raises(BaselineError, match="no codes table"):
        write_kernel_oracle(store, gt_for_specs, tmp_path / "oracle")
    failures: dict[str, str] = {}
    write_baselines(store, gt_for_specs, tmp_path / "bl", names=[KERNEL_ORACLE], failures=failures)
    assert "no codes table" in failures[KERNEL_ORACLE]
