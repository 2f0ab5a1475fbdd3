"""`laps bench --e2e`: the whole pipeline, stage by stage, and the speed-up of ``--workers``.

A partition is built from bench preset videos (640x480, 30 fps, shake on) in a fresh store and
every stage of ``pipeline.stages.STAGES`` runs on it in a child process (``laps segment``'s code
path, the default ``PipelineConfig``; clips on). The tokenizer is *installed* from a checkpoint
(trained once elsewhere, or an untrained default-config one: speed does not depend on the
weights); training speed is ``laps bench``'s ``tokenizer_train_windows_per_s``, reported apart.

- ``stage_s_per_video_s``: wall seconds of each stage per second of video (``clips``: the clip
  cutting inside ``segments``, also counted in it), one core (the child pinned, one thread);
- ``pipeline_realtime_factor``: video seconds per wall second, every stage but the tokenizer;
- ``pipeline_peak_rss_mb``: the child's peak memory;
- ``workers_speedup``: wall time of the per-video stages (tracks, segments with its clips) on a
  partition of ``workers`` different videos with ``workers=1`` over the same with ``workers=N``
  (children not pinned; N processes on N cores). On a shared machine it is indicative only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DATE, STATION = "2026-01-01", "bench"
PER_VIDEO = ("tracks", "segments")


def _partition_run(inbox: Path, store_dir: Path, checkpoint: Path, config: dict) -> dict:
    """Every stage on the folder ``inbox``, timed (runs in the child)."""
    from pipeline.cli.segment import _infos, _scan
    from pipeline.ingest.landing import folder_file
    from pipeline.io.storage import LocalStorage
    from pipeline.stages import STAGE_NAMES, StageContext, load_pipeline_config, run_stage

    listed, _ = _scan(inbox, recursive=False, exclude=store_dir.resolve())
    ctx = StageContext(
        store=LocalStorage(store_dir), date=DATE, station=STATION,
        config=load_pipeline_config(config), landing=LocalStorage(inbox),
        files=[folder_file(i, STATION, DATE) for i in _infos(inbox, listed)],
        checkpoint=checkpoint,
    )  # fmt: skip
    seconds: dict[str, float] = {}
    extra: dict[str, Any] = {}
    for name in STAGE_NAMES:
        t0 = time.perf_counter()
        summary = run_stage(name, ctx)
        seconds[name] = time.perf_counter() - t0
        if name == "segments":
            seconds["clips"] = float(summary.extra.get("clip_seconds", 0.0))
            extra["clips"] = summary.extra.get("clips", {})
            extra["video_sec"] = float(summary.extra["video_seconds"])
    return {"seconds": seconds, **extra}


def measure_pipeline(inbox: Path, store_dir: Path, checkpoint: Path, config: str) -> dict:
    import resource

    out = _partition_run(inbox, store_dir, checkpoint, json.loads(config))
    kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    out["children_peak_rss_mb"] = kids
    return out


def _child(*args: str, pinned: bool) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "pipeline.evaluation.bench_e2e", "pin" if pinned else "free",
           *args]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"e2e bench child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _inbox(workdir: Path, name: str, videos: list[Path]) -> Path:
    inbox = workdir / name
    inbox.mkdir(parents=True, exist_ok=True)
    for v in videos:
        link = inbox / v.name
        if not link.exists():
            # a hard link (or a copy): ingest never follows a symbolic link out of its landing
            # folder (it quarantines it), so a symlink would benchmark nothing
            try:
                os.link(v, link)
            except OSError:
                shutil.copyfile(v, link)
    return inbox


def _fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    return path


def run_e2e_bench(
    workdir: Path,
    *,
    seconds: float = 60.0,
    long_factor: int = 6,
    seed: int = 7,
    checkpoint: Path | None = None,
    repeats: int = 1,
    workers: int = 1,
    clips: dict[str, Any] | None = None,
    on_step=None,
) -> dict[str, Any]:
    from pipeline.evaluation.bench import _step, bench_videos, machine, untrained_checkpoint

    # the long copy, as `laps bench --stage publish` uses: one station needs enough windows for
    # the energy calibration that publishing requires (a 60 s video with an untrained
    # tokenizer stays uncalibrated, and publish refuses it)
    _, video = bench_videos(workdir, seconds, long_factor, seed=seed, on_step=on_step)
    ckpt = checkpoint or untrained_checkpoint(workdir / "untrained-tokenizer.pt")
    config = json.dumps({"clips": clips or {}, "workers": 1})
    inbox = _inbox(workdir, "e2e-input", [video])
    runs = []
    for r in range(repeats):
        _step(on_step, f"whole pipeline on {video.name}, one core ({r + 1}/{repeats})")
        runs.append(_child(str(inbox), str(_fresh(workdir / "e2e-store")), str(ckpt), config,
                           pinned=True))  # fmt: skip
    best = min(runs, key=lambda x: sum(x["seconds"].values()) - x["seconds"]["tokenizer"])
    vsec = best["video_sec"]
    secs = best["seconds"]
    counted = sum(v for k, v in secs.items() if k not in ("tokenizer", "clips"))
    figures: dict[str, Any] = {
        "pipeline_realtime_factor": round(vsec / counted, 2),
        "stage_s_per_video_s": {k: round(v / vsec, 4) for k, v in secs.items()},
        "pipeline_peak_rss_mb": round(best["peak_rss_mb"], 1),
        "clips_written": best["clips"].get("written", 0),
        "clip_settings": clips or {},
        "video_sec": round(vsec, 2),
        "tokenizer": "installed checkpoint (training excluded: see tokenizer_train_windows_per_s)",
    }
    if workers > 1:
        vids = [bench_videos(workdir, seconds, long_factor, seed=seed + i, on_step=on_step)[1]
                for i in range(workers)]  # fmt: skip
        many = _inbox(workdir, f"e2e-input-x{workers}", vids)
        walls = {}
        for n in (1, workers):
            _step(on_step, f"{workers} videos with workers={n}")
            cfg = json.dumps({"clips": clips or {}, "workers": n})
            res = _child(str(many), str(_fresh(workdir / f"e2e-store-w{n}")), str(ckpt), cfg,
                         pinned=False)  # fmt: skip
            walls[n] = sum(res["seconds"][k] for k in PER_VIDEO)
        figures["workers"] = workers
        figures["workers_speedup"] = round(walls[1] / walls[workers], 3)
        figures["workers_wall_s"] = {str(k): round(v, 2) for k, v in walls.items()}
    figures["repeats"] = repeats
    figures["machine"] = machine()
    return figures


if __name__ == "__main__":
    from pipeline.evaluation.bench import _peak_rss_mb, _single_core

    mode, *rest = sys.argv[1:]
    if mode == "pin":
        _single_core()
    else:
        import cv2

        cv2.setNumThreads(1)  # the pool is the parallelism: one thread per process either way
    inbox, store, ckpt, cfg = rest
    result = measure_pipeline(Path(inbox), Path(store), Path(ckpt), cfg)
    result["peak_rss_mb"] = _peak_rss_mb()
    sys.stdout.write(json.dumps(result) + "\n")
