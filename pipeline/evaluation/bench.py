"""`laps bench`: speed and memory of the ingest-to-codes path on ONE CPU core.

All figures come from one invocation; speed figures are the best of ``repeats`` runs (the least
disturbed by other work on the machine). Each measurement runs in a fresh child process pinned to a
single core (``sched_setaffinity``), with torch, OpenCV and the decoder single-threaded, so peak
memory (``ru_maxrss``) belongs to that measurement alone.

- ``decode_fps``: source frames decoded per second (decode only, every frame, no conversion);
- ``tracking_fps``: normalized frames per second through ``track_windows`` (frames pre-decoded);
- ``tokenizer_windows_per_s``: windows per second through the tokenizer's encoder + FSQ, on
  ``device`` (``--device``: ``cpu`` by default; ``cuda`` batches on the GPU with autocast, the
  CPU side still one core; ``tokenizer_device`` says which);
- ``tokenizer_train_windows_per_s``: training windows per second of the default-config
  tokenizer (``pipeline.tokens.runners.measure_training``: 8 optimisation steps of 32 random
  windows, the epoch's validation included), on the same ``device``; one run, not the best of
  ``repeats`` (it is the slowest measurement);
- ``end_to_end_realtime_factor``: video seconds per wall second for hash + probe + chunk plan +
  decode + tracks (written to disk) + codes, the code path of the assets;
- ``ratio_to_decode``: end-to-end throughput / decode-only throughput;
- ``peak_rss_mb`` and ``peak_rss_long_mb``: peak memory end to end for the video and for one
  ``long_factor`` times longer (the same content repeated, remuxed without re-encoding).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pipeline.io.scratch import scratch_dir

log = logging.getLogger(__name__)


def _single_core() -> None:
    """Pin this process to one core and every library to one thread."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    import cv2
    import torch

    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def concat_copies(src: Path, copies: int, dst: Path) -> Path:
    """Write ``copies`` back-to-back copies of ``src`` by remuxing packets (no re-encode)."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        s_in = inp.streams.video[0]
        s_out = out.add_stream_from_template(s_in)
        packets = [p for p in inp.demux(s_in) if p.size > 0]
        stamps = [(p.pts, p.dts) for p in packets]
        frame_ticks = int(round(1 / (float(s_in.average_rate) * s_in.time_base)))
        span = len(packets) * frame_ticks  # one copy's duration in stream ticks (CFR)
        for i in range(copies):
            for p, (pts, dts) in zip(packets, stamps, strict=True):
                p.stream = s_out
                p.pts, p.dts = pts + i * span, dts + i * span
                out.mux(p)
    return dst


def measure_decode(video: Path) -> dict[str, float]:
    import av

    t0 = time.perf_counter()
    n = 0
    with av.open(str(video)) as c:
        s = c.streams.video[0]
        s.codec_context.thread_count = 1
        for _ in c.decode(s):
            n += 1
        fps = float(s.average_rate)
    wall = time.perf_counter() - t0
    return {"frames": n, "wall_s": wall, "decode_fps": n / wall, "video_sec": n / fps}


def measure_tracking(video: Path) -> dict[str, float]:
    """Tracker only, on frames decoded beforehand exactly as the pipeline feeds it."""
    from pipeline.config import VideoConfig, WindowConfig
    from pipeline.io.video import iter_frames, normalized_size, probe_video
    from pipeline.tracks.flow import flow_size
    from pipeline.tracks.tracking import TrackingConfig, track_windows

    vc, tc = VideoConfig(), TrackingConfig()
    probe = probe_video(video)
    size = normalized_size(probe.width, probe.height, vc.short_side)
    decode = flow_size(size, tc.flow_downscale) if tc.method == "dis" else size
    frames = list(iter_frames(video, target_fps=vc.target_fps, size=decode))
    t0 = time.perf_counter()
    tracks = track_windows(frames, WindowConfig(), tc, frame_size=size)
    wall = time.perf_counter() - t0
    return {
        "frames": len(frames),
        "windows": len(tracks),
        "wall_s": wall,
        "tracking_fps": len(frames) / wall,
    }


def measure_tokenizer(
    checkpoint: Path, windows: int = 1024, device: str = "cpu"
) -> dict[str, float | str]:
    import numpy as np

    from pipeline.tokens.runners import checkpoint_runner

    runner = checkpoint_runner(checkpoint, batch_size=256, device=device)
    cfg = runner.config
    rng = np.random.default_rng(0)
    vel = (rng.standard_normal((windows, cfg.steps, cfg.num_points, 2)) * 0.01).astype(np.float32)
    runner.encode(vel[:256])  # warm-up
    t0 = time.perf_counter()
    runner.encode(vel)
    wall = time.perf_counter() - t0
    return {
        "windows": windows,
        "wall_s": wall,
        "tokenizer_windows_per_s": windows / wall,
        "device": runner.device_name,
    }


def measure_training(device: str = "cpu") -> dict[str, float | str]:
    from pipeline.tokens.runners import measure_training as train_speed

    return train_speed(device=device)


def measure_end_to_end(video: Path, checkpoint: Path) -> dict[str, float]:
    """The assets' code path for one video, without Dagster: hash, probe, plan, track, encode."""
    from pipeline.config import VideoConfig, WindowConfig
    from pipeline.ingest.landing import plan_chunks
    from pipeline.io.video import normalized_size, probe_video, sha256_file
    from pipeline.tokens.runners import checkpoint_runner
    from pipeline.tracks.stage import track_chunk
    from pipeline.tracks.store import save_tracks
    from pipeline.tracks.tracking import TrackingConfig

    runner = checkpoint_runner(checkpoint, batch_size=256)  # loaded once per process
    vc, wc, tc = VideoConfig(), WindowConfig(), TrackingConfig()
    t0 = time.perf_counter()
    vid = sha256_file(video)
    probe = probe_video(video)
    size = normalized_size(probe.width, probe.height, vc.short_side)
    windows = codes = 0
    with scratch_dir("laps-bench") as tmp:
        for chunk in plan_chunks(vid, probe.fps, probe.frame_count, vc, wc):
            for i, batch in enumerate(track_chunk(video, chunk, vc, wc, tc, size)):
                save_tracks(batch, Path(tmp) / f"c{chunk['chunk_index']}-p{i}.npz")
                out = runner.encode(batch.velocities)
                windows += len(batch)
                codes += out.codes.size
    wall = time.perf_counter() - t0
    return {
        "video_sec": probe.duration_sec,
        "windows": windows,
        "codes": codes,
        "wall_s": wall,
        "end_to_end_realtime_factor": probe.duration_sec / wall,
    }


_MEASURES = {
    "decode": measure_decode,
    "tracking": measure_tracking,
    "tokenizer": measure_tokenizer,
    "training": measure_training,
    "e2e": measure_end_to_end,
}


def child_main(argv: list[str]) -> None:
    """Entry of a measurement child: ``python -m pipeline.evaluation.bench <measure> <args...>``
    (paths; ``--device=<cpu|cuda>`` for the tokenizer measurement)."""
    _single_core()
    name, *args = argv
    kw = {a.split("=", 1)[0][2:]: a.split("=", 1)[1] for a in args if a.startswith("--")}
    result = _MEASURES[name](*[Path(a) for a in args if not a.startswith("--")], **kw)
    result["peak_rss_mb"] = _peak_rss_mb()
    sys.stdout.write(json.dumps(result) + "\n")


def _child(name: str, *args: Path | str) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "pipeline.evaluation.bench", name, *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"bench child {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def untrained_checkpoint(path: Path) -> Path:
    """A default-config tokenizer with seeded random weights (speed does not depend on them)."""
    from pipeline.tokens.runners import write_untrained_checkpoint

    return write_untrained_checkpoint(path)


def bench_videos(
    workdir: Path, seconds: float, long_factor: int, *, seed: int = 7, on_step=None
) -> tuple[Path, Path]:
    """The bench video (rendered once per workdir) and its ``long_factor`` times longer copy."""
    from pipeline.synth import render_video

    workdir.mkdir(parents=True, exist_ok=True)
    video = workdir / f"bench-{seed}-{int(seconds)}s.mp4"
    if not video.exists():
        _step(on_step, f"rendering the {seconds:.0f} s bench video (640x480, 30 fps, shake on)")
        render_video(video, seconds=seconds, seed=seed, preset="bench", shake=True)
    long_video = workdir / f"bench-{seed}-{int(seconds)}s-x{long_factor}.mp4"
    if not long_video.exists():
        concat_copies(video, long_factor, long_video)
    return video, long_video


def run_bench(
    workdir: Path,
    *,
    seconds: float = 60.0,
    long_factor: int = 6,
    seed: int = 7,
    checkpoint: Path | None = None,
    repeats: int = 3,
    device: str = "cpu",
    on_step=None,
) -> dict[str, Any]:
    """Render (or reuse) the bench video, run every measurement, return the figures.
    ``device`` (``auto`` | ``cpu`` | ``cuda``) is where the tokenizer measurement runs; it is
    resolved here, before any work (``cuda`` without CUDA: ``ConfigError``)."""
    from pipeline.tokens.runners import run_device

    dev = run_device(device).type  # "cpu" | "cuda"
    video, long_video = bench_videos(workdir, seconds, long_factor, seed=seed, on_step=on_step)
    ckpt = checkpoint or untrained_checkpoint(workdir / "untrained-tokenizer.pt")
    # Decode-only and end-to-end alternate, so each ratio compares runs made under the same
    # conditions of a shared machine; speed figures keep the best run, the ratio the median.
    pairs = []
    for r in range(repeats):
        _step(on_step, f"measuring decode and end-to-end on {video.name} ({r + 1}/{repeats})")
        pairs.append((_child("decode", video), _child("e2e", video, ckpt)))
    ratios = sorted(d["wall_s"] / e["wall_s"] for d, e in pairs)
    dec = min((d for d, _ in pairs), key=lambda x: x["wall_s"])
    e2e = min((e for _, e in pairs), key=lambda x: x["wall_s"])
    _step(on_step, "measuring tracking and the tokenizer")
    trk = min((_child("tracking", video) for _ in range(repeats)), key=lambda x: x["wall_s"])
    toks = (_child("tokenizer", ckpt, f"--device={dev}") for _ in range(repeats))
    tok = min(toks, key=lambda x: x["wall_s"])
    _step(on_step, "measuring tokenizer training")
    train = _child("training", f"--device={dev}")
    _step(on_step, f"measuring end-to-end on {long_video.name} (peak memory)")
    e2e_long = _child("e2e", long_video, ckpt)
    return {
        "decode_fps": round(dec["decode_fps"], 1),
        "tracking_fps": round(trk["tracking_fps"], 1),
        "tokenizer_windows_per_s": round(tok["tokenizer_windows_per_s"], 1),
        "tokenizer_train_windows_per_s": round(train["train_windows_per_s"], 1),
        "end_to_end_realtime_factor": round(e2e["end_to_end_realtime_factor"], 2),
        "ratio_to_decode": round(ratios[len(ratios) // 2], 3),
        "ratio_to_decode_range": f"{ratios[0]:.3f}-{ratios[-1]:.3f}",
        "peak_rss_mb": round(e2e["peak_rss_mb"], 1),
        "peak_rss_long_mb": round(e2e_long["peak_rss_mb"], 1),
        "long_over_short_rss": round(e2e_long["peak_rss_mb"] / e2e["peak_rss_mb"], 3),
        "long_realtime_factor": round(e2e_long["end_to_end_realtime_factor"], 2),
        "video_sec": round(e2e["video_sec"], 2),
        "long_video_sec": round(e2e_long["video_sec"], 2),
        "tokenizer": "given checkpoint" if checkpoint else "untrained default config",
        "tokenizer_device": tok["device"],
        "repeats": repeats,
        "machine": machine(tok["device"]),
    }


def _step(on_step, text: str) -> None:
    log.info(text)
    if on_step:
        on_step(text)


def machine(device: str = "cpu") -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        log.debug("no /proc/cpuinfo; using %s", model)
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    text = f"{model}, {os.cpu_count()} cores, {mem:.0f} GiB, Python {platform.python_version()}"
    if device.startswith("cuda"):
        import torch

        text += f"; tokenizer on {torch.cuda.get_device_name(torch.device(device))}"
    return text


if __name__ == "__main__":
    child_main(sys.argv[1:])
