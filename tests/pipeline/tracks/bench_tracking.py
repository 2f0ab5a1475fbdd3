"""Speed of point tracking on synthetic textured frames, one OpenCV thread (not a pytest test).

Run: ``.venv/bin/python tests/pipeline/tracks/bench_tracking.py [--size 320x240] [--seconds 60]``.
Reports pairs/s of the flow alone (forward + backward) and windows/s and seconds per video
second of the whole ``track_windows`` at 10 fps. Times are CPU seconds of this process
(``time.process_time``; one OpenCV thread), so other load on a shared machine inflates them less
than wall time; the best of ``--repeats`` runs is reported.
"""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Iterator

import cv2
import numpy as np

from pipeline.config import WindowConfig
from pipeline.io.video import Frame
from pipeline.tracks.flow import DisMover, PreparedFrame, downscale
from pipeline.tracks.tracking import TrackingConfig, track_windows

log = logging.getLogger("bench_tracking")


def textured_frames(width: int, height: int, count: int, seed: int = 0) -> Iterator[Frame]:
    """A random texture drifting and rotating slowly, a textured patch moving fast, noise."""
    rng = np.random.default_rng(seed)
    base = rng.random((height // 6 + 8, width // 6 + 8)).astype(np.float32)
    big = cv2.resize(base, (2 * width, 2 * height), interpolation=cv2.INTER_CUBIC) * 200 + 20
    patch = big[:60, :60].copy()
    for k in range(count):
        m = cv2.getRotationMatrix2D((width, height), 0.2 * k, 1.0)
        m[:, 2] -= (width / 2 - 0.7 * k, height / 2 - 0.3 * k)
        img = cv2.warpAffine(big, m, (width, height))
        x = int(20 + 7 * k) % (width - 60)
        img[40:100, x : x + 60] = patch
        img += rng.normal(0, 2, img.shape).astype(np.float32)
        yield Frame(index=3 * k, t_sec=k / 10, image=np.clip(img, 0, 255).astype(np.uint8))


def bench_flow(frames: list[Frame], cfg: TrackingConfig) -> float:
    """Pairs per second of the DIS flow (forward + backward) alone."""
    prepared = [PreparedFrame(f.image, downscale(f.image, cfg.flow_downscale)) for f in frames]
    mover = DisMover(cfg.dis_preset)
    points = np.zeros((0, 2))
    start = time.process_time()
    for a, b in zip(prepared[:-1], prepared[1:], strict=True):
        mover.move(a, b, points)
    return (len(prepared) - 1) / (time.process_time() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", default="320x240", help="WIDTHxHEIGHT of normalized frames")
    parser.add_argument("--seconds", type=float, default=60.0, help="video seconds at 10 fps")
    parser.add_argument("--method", default="dis", choices=["dis", "lk"])
    parser.add_argument("--repeats", type=int, default=3, help="runs; the fastest is reported")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cv2.setNumThreads(1)
    width, height = (int(v) for v in args.size.split("x"))
    frames = list(textured_frames(width, height, int(args.seconds * 10)))
    cfg = TrackingConfig(method=args.method)
    if args.method == "dis":
        rate = max(bench_flow(frames, cfg) for _ in range(args.repeats))
        log.info("flow alone %s: %.0f pairs/s (forward + backward)", args.size, rate)
    elapsed = float("inf")
    for _ in range(args.repeats):
        start = time.process_time()
        tracks = track_windows(frames, WindowConfig(), cfg)
        elapsed = min(elapsed, time.process_time() - start)
    log.info(
        "track_windows %s %s: %d windows in %.2f s = %.0f windows/s, %.0f pairs/s, "
        "%.4f s per video second",
        args.method, args.size, len(tracks), elapsed, len(tracks) / elapsed,
        (len(frames) - 1) / elapsed, elapsed / args.seconds,
    )  # fmt: skip


if __name__ == "__main__":
    main()
