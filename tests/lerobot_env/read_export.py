"""Load a laps LeRobot export with lerobot's own ``LeRobotDataset`` and check it (consumer side).

Runs in ``.venv-lerobot`` (``tests/lerobot_env/make-env.sh``), never in the project's env::

    HF_HUB_OFFLINE=1 HF_HOME=/tmp/hf .venv-lerobot/bin/python tests/lerobot_env/read_export.py \\
        EXPORT_DIR [--expect expect.json] [--frames-out frames.npz]

Reads the first and last item of every episode (decoded through torchcodec at
``from_timestamp + timestamp``), every frame's ``action.latent`` (data column), a
``delta_timestamps`` window (an action chunk with padding at the episode's end) and one
DataLoader batch. ``--expect`` is JSON ``{"fps": int, "task": str, "episodes": [{"segment_id":
str, "codes": [int, ...]}, ...]}`` in episode order; every mismatch is listed in ``problems``.
``--frames-out`` saves the decoded first/last images (uint8 HWC, keys ``ep<i>_first``/
``ep<i>_last``). Prints one JSON summary on stdout; exit code 1 if there is any problem.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # a local root must never reach the hub

import numpy as np  # noqa: E402
import torch  # noqa: E402
from lerobot.datasets.lerobot_dataset import LeRobotDataset  # noqa: E402

VIDEO_KEY = "observation.images.cam"
LATENT_KEY = "action.latent"


def item_summary(item: dict[str, Any]) -> dict[str, Any]:
    img = item[VIDEO_KEY]
    return {
        "index": int(item["index"].item()),
        "episode_index": int(item["episode_index"].item()),
        "frame_index": int(item["frame_index"].item()),
        "timestamp": float(item["timestamp"].item()),
        "task_index": int(item["task_index"].item()),
        "task": item["task"],
        "latent": item[LATENT_KEY].tolist(),
        "latent_dtype": str(item[LATENT_KEY].dtype),
        "image_shape": list(img.shape),
        "image_dtype": str(img.dtype),
        "image_range": [float(img.min()), float(img.max())],
    }


def to_uint8(img: torch.Tensor) -> np.ndarray:
    return (img.permute(1, 2, 0).numpy() * 255.0).round().clip(0, 255).astype(np.uint8)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path)
    ap.add_argument("--expect", type=Path)
    ap.add_argument("--frames-out", type=Path)
    args = ap.parse_args()
    expect = json.loads(args.expect.read_text()) if args.expect else None
    problems: list[str] = []

    t0 = time.monotonic()
    ds = LeRobotDataset(repo_id="local/laps", root=args.root)
    load_s = time.monotonic() - t0
    fps = ds.fps
    total = ds.meta.total_frames
    if len(ds) != total:
        problems.append(f"len {len(ds)} != total_frames {total}")
    latents = ds.hf_dataset.with_format(None)[LATENT_KEY]
    frames: dict[str, np.ndarray] = {}
    episodes = []
    for e in range(ds.num_episodes):
        ep = ds.meta.episodes[e]
        lo, hi = int(ep["dataset_from_index"]), int(ep["dataset_to_index"])
        first, last = ds[lo], ds[hi - 1]
        summary = {
            "episode_index": e,
            "from": lo,
            "to": hi,
            "segment_id": ep.get("laps/segment_id"),
            "from_timestamp": float(ep[f"videos/{VIDEO_KEY}/from_timestamp"]),
            "first": item_summary(first),
            "last": item_summary(last),
            "latent": [int(v) for v in latents[lo:hi]],
        }
        for name, item, k in (("first", first, 0), ("last", last, hi - lo - 1)):
            s = summary[name]
            if (s["episode_index"], s["frame_index"], s["index"]) != (e, k, lo + k):
                problems.append(f"episode {e} {name}: {s['episode_index']=} {s['frame_index']=}")
            if abs(s["timestamp"] - k / fps) > 1e-6:
                problems.append(f"episode {e} {name}: timestamp {s['timestamp']} != {k}/{fps}")
            if s["latent"] != summary["latent"][k]:
                problems.append(f"episode {e} {name}: item latent != data column")
            frames[f"ep{e}_{name}"] = to_uint8(item[VIDEO_KEY])
        if expect is not None:
            want = expect["episodes"][e] if e < len(expect["episodes"]) else None
            if want is None or summary["latent"] != want["codes"]:
                problems.append(f"episode {e}: latent codes differ from the segment's")
            if want is not None and summary["segment_id"] != want["segment_id"]:
                problems.append(f"episode {e}: segment {summary['segment_id']} != {want}")
            for name in ("first", "last"):
                if summary[name]["task"] != expect["task"]:
                    problems.append(f"episode {e}: task {summary[name]['task']!r}")
        episodes.append(summary)
    if expect is not None:
        if ds.num_episodes != len(expect["episodes"]):
            problems.append(f"{ds.num_episodes} episodes, expected {len(expect['episodes'])}")
        if fps != expect["fps"]:
            problems.append(f"fps {fps} != {expect['fps']}")

    # an action chunk of 3 steps at the last frame of episode 0: 2 padded steps
    chunk = LeRobotDataset(
        repo_id="local/laps",
        root=args.root,
        delta_timestamps={LATENT_KEY: [0.0, 1 / fps, 2 / fps], VIDEO_KEY: [-1 / fps, 0.0]},
    )
    ep0 = ds.meta.episodes[0]
    at_end = chunk[int(ep0["dataset_to_index"]) - 1]
    delta = {
        "latent": at_end[LATENT_KEY].tolist(),
        "latent_is_pad": at_end[f"{LATENT_KEY}_is_pad"].tolist(),
        "video_shape": list(at_end[VIDEO_KEY].shape),
    }
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4, num_workers=0)))
    if args.frames_out:
        np.savez(args.frames_out, **frames)
    import lerobot
    import torchcodec

    out = {
        "ok": not problems,
        "problems": problems,
        "len": len(ds),
        "num_episodes": ds.num_episodes,
        "fps": fps,
        "video_keys": list(ds.meta.video_keys),
        "video_backend": ds.video_backend,
        "features": {
            k: {"dtype": v["dtype"], "shape": list(v["shape"]), "names": v["names"]}
            for k, v in ds.features.items()
        },  # fmt: skip
        "tasks": list(ds.meta.tasks.index),
        "stats_keys": sorted(ds.meta.stats or {}),
        "episodes": episodes,
        "delta": delta,
        "batch": {k: list(v.shape) for k, v in batch.items() if isinstance(v, torch.Tensor)},
        "load_seconds": round(load_s, 3),
        "versions": {
            "lerobot": lerobot.__version__,
            "torch": torch.__version__,
            "torchcodec": torchcodec.__version__,
        },  # fmt: skip
    }
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0 if out["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
