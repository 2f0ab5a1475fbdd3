"""A fixed change-point count that a video cannot hold is refused before tracking, with the
same limit the segmenter itself enforces."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from pipeline.cli.main import main
from pipeline.errors import SegmenterError
from pipeline.segments.config import SegmentationConfig
from pipeline.segments.segmenters import ChangePointSegmenter
from pipeline.segments.station import impossible_options
from pipeline.synth import render_video


def _cfg(n_bkps: int) -> SegmentationConfig:
    return SegmentationConfig(
        method="changepoint", changepoint={"rule": "fixed", "n_bkps": n_bkps, "min_size_sec": 0.5}
    )


@pytest.mark.parametrize(("fps", "num_windows"), [(30.0, 20), (25.0, 57), (10.0, 9), (12.5, 33)])
def test_the_early_limit_is_the_segmenters_own(fps, num_windows):
    video = {"num_windows": num_windows, "fps": fps, "target_fps": 10.0, "file_name": "v.mp4",
             "duration_sec": 10.0}  # fmt: skip
    n = (num_windows - 1) * 4 + 15
    step = max(1.0, fps / 10.0)
    times = np.floor(np.arange(n) * step + 0.5) / fps
    feats = np.random.default_rng(0).standard_normal((n, 2))
    most = max(
        k for k in range(n + 1)
        if not impossible_options([video], _cfg(k), stride=4, window_frames=16)
    )  # fmt: skip
    ChangePointSegmenter(rule="fixed", n_bkps=most, standardize=False).fit(feats, times)
    with pytest.raises(SegmenterError, match="impossible"):
        ChangePointSegmenter(rule="fixed", n_bkps=most + 1, standardize=False).fit(feats, times)


def test_other_rules_and_the_gate_need_no_such_check():
    video = {"num_windows": 3, "fps": 10.0, "target_fps": 10.0, "file_name": "v.mp4",
             "duration_sec": 2.0}  # fmt: skip
    assert impossible_options([video], SegmentationConfig(), stride=4, window_frames=16) == []
    hyst = _cfg(50).model_copy(update={"method": "hysteresis"})
    assert impossible_options([video], hyst, stride=4, window_frames=16) == []
    assert impossible_options([video], _cfg(50), stride=4, window_frames=16)


def test_laps_segment_refuses_an_impossible_n_bkps_before_tracking(tmp_path):
    folder = tmp_path / "in"
    render_video(folder / "short.mp4", seconds=3, seed=3, preset="test", shake=False)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"segmentation": {"changepoint": {"rule": "fixed", "n_bkps": 500}}}))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["segment", "--input", str(folder), "--output", str(out),
                                       "--config", str(cfg)])  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "n_bkps=500 is impossible for short.mp4" in result.output
    assert "Traceback" not in result.output
    assert not (out / "tracks").exists()  # refused before any tracking
