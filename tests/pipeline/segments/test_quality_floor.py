"""The default segmenter end to end on rendered workstation video with known primitives.

A regression floor, not a quality figure: the measured figures live in BENCHMARKS.md (``laps
eval`` on 8 held-out 60 s bench videos). These two 30 s ``test``-preset videos (one with camera
shake) scored boundary F1@1 s 0.89 and 0.94 when the test was written; the floor of 0.7 only
catches a broken feature, rule or frame mapping.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from lapstest.segment_stores import make_checkpoint

from pipeline.cli.segment import run_folder
from pipeline.evaluation.metrics import score_segmentation
from pipeline.segments.config import SegmentationConfig
from pipeline.segments.segfile import read_segments
from pipeline.stages import PipelineConfig
from pipeline.synth import render_video

VIDEOS = {"shaky": (4242, True), "steady": (4243, False)}


@pytest.mark.slow
def test_default_segmenter_finds_the_primitives_of_rendered_video(tmp_path: Path) -> None:
    for stem, (seed, shake) in VIDEOS.items():
        render_video(tmp_path / "input" / f"{stem}.mp4", seconds=30, seed=seed, shake=shake)
    run = run_folder(
        tmp_path / "input",
        tmp_path / "store",
        config=PipelineConfig(segmentation=SegmentationConfig(), write_clips=False),
        checkpoint=make_checkpoint(tmp_path / "tiny.pt"),
        station="synth",
        date="2026-01-02",
    )
    assert len(run.videos) == 2
    for stem in VIDEOS:
        truth = read_segments(tmp_path / "input" / f"{stem}.segments.json")
        pred = read_segments(tmp_path / "store" / f"{stem}.segments.json")
        scores = score_segmentation(truth.segments, pred.segments, duration_sec=truth.duration_sec)
        assert scores["boundary_f1@1.0"] >= 0.7, (stem, scores)
        assert 0.7 <= scores["n_pred"] / scores["n_true"] <= 1.4, (stem, scores)
