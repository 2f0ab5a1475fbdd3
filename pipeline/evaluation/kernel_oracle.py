"""``kernel_cpd_oracle_k``: kernel change points on per-step motion features, given the TRUE count.

**An oracle**, like ``uniform_oracle_k``: it reads the number of segments of each video from its
ground-truth file (counted on the contiguous segmentation, as the metrics count them) and asks
``ruptures.KernelCPD`` (``rbf`` kernel, through ``ChangePointSegmenter`` with ``rule="fixed"``)
for exactly that many pieces. What it shows is how well plain track features place boundaries
when the count is known: a method that sets its own count should approach it.

Features (``ORACLE_FEATURES``): the per-step track signals of ``pipeline.segments.signals``
(motion and occlusion energies of the tracks, window track speed and flow magnitude interpolated
per step), each robustly standardised; no latents, so the tokenizer plays no part. They are
read from the store written by ``laps segment`` (its ``videos``, ``windows`` and ``codes``
tables and track files). Sequences longer than ``MAX_RBF_SAMPLES`` steps (rbf costs O(n^2)) are
subsampled evenly; the minimum segment is ``MIN_SIZE_SEC``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np

from pipeline.errors import BaselineError, SegmenterError
from pipeline.evaluation.harness import true_counts
from pipeline.io.keys import store_video_stems
from pipeline.io.storage import open_storage
from pipeline.io.tables import list_partitions, read_table
from pipeline.segments.segfile import SEGMENT_SUFFIX, SegmentFile, write_segments
from pipeline.segments.segmenters.changepoint import MAX_RBF_SAMPLES, ChangePointSegmenter

log = logging.getLogger(__name__)

KERNEL_ORACLE = "kernel_cpd_oracle_k"
ORACLE_FEATURES = ("motion", "occlusion", "track_speed", "flow")
MIN_SIZE_SEC = 0.5


def oracle_segments(
    features: np.ndarray, times: np.ndarray, end_sec: float, n_segments: int
) -> ChangePointSegmenter:
    """Fit ``n_segments`` pieces (fewer when the sequence is too short for that many)."""
    step = max(1, math.ceil(features.shape[0] / MAX_RBF_SAMPLES))
    x, t = features[::step], times[::step]
    dt = float(np.median(np.diff(t))) if t.size > 1 else 1.0
    most = max(0, t.size // max(2, round(MIN_SIZE_SEC / dt)) - 1)
    n_bkps = min(max(n_segments - 1, 0), most)
    seg = ChangePointSegmenter(rule="fixed", n_bkps=n_bkps, kernel="rbf", min_size_sec=MIN_SIZE_SEC)
    return seg.fit(x, t, end_sec=end_sec)


def write_kernel_oracle(
    store_root: str | Path, gt_dir: str | Path, out_dir: str | Path
) -> list[Path]:
    """Write ``<out_dir>/<stem>.segments.json`` for every store video with ground truth."""
    from pipeline.segments.config import SegmentationConfig
    from pipeline.segments.stage import load_signals

    counts = true_counts(gt_dir)
    store = open_storage(str(store_root))
    videos = read_table(store, "videos")
    if videos is None:
        raise BaselineError(f"{store_root}: no videos table")
    stems = store_video_stems(
        videos.select(["video_id", "file_name", "date", "station"]).to_pylist()
    )
    partitions = list_partitions(store, "codes")
    if not partitions:
        raise BaselineError(f"{store_root}: no codes table (run laps segment first)")
    written: list[Path] = []
    for date, station in partitions:
        rows, signals, _ = load_signals(store, date, station, track_features=SegmentationConfig())
        for row in rows:
            stem = stems.get(row["video_id"], row["video_id"])
            if stem not in counts:
                continue
            sig = signals[row["video_id"]]
            features = sig.step_features(ORACLE_FEATURES, [1.0] * len(ORACLE_FEATURES))
            try:
                seg = oracle_segments(
                    features, sig.step_times(), float(row["duration_sec"]), counts[stem]
                )
            except SegmenterError as exc:
                raise BaselineError(f"{stem}: {exc}") from exc
            out = SegmentFile(
                row["file_name"],
                float(row["fps"]),
                float(row["duration_sec"]),
                tuple(seg.predict()),
                {
                    "baseline": KERNEL_ORACLE,
                    "oracle": True,
                    "features": list(ORACLE_FEATURES),
                    "kernel": "rbf",
                    "n_true": counts[stem],
                },
            )
            written.append(write_segments(Path(out_dir) / f"{stem}{SEGMENT_SUFFIX}", out))
    log.info("baseline %s: %d files in %s", KERNEL_ORACLE, len(written), out_dir)
    return written
