"""Issue 15 item 1: what clip cutting costs, old code against new, in one process (CPU time).

    OMP_NUM_THREADS=1 .venv/bin/python docs/experiments/issue15/clip_costs.py micro
    OMP_NUM_THREADS=1 .venv/bin/python docs/experiments/issue15/clip_costs.py stage

``micro``: 600 frames (20 s) of the 640x480 30 fps bench video (``SRC``) cut to one 342x256
clip: decode and scaling paths, swscale filters (with PSNR), x264 presets at crf 20 (bytes per
clip second, PSNR), 30 against 10 Hz. ``stage``: the 97 real clips of the e2e bench's 120 s
video (its segments table in ``STORE``, from ``laps bench --e2e``) with ``write_clips``. The
old code is ``pipeline/io/video.py`` and ``pipeline/segments/clips.py`` at ``OLD`` (git show).
Each figure: the median of 3 runs, ``time.process_time()`` and wall seconds. PSNR is the mean
over frames, in RGB, against the uncompressed frames of the old path (decode, area scaling to
RGB): a reference that favours the old path.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
import pipeline.io.video as new_video  # noqa: E402
from pipeline.io.storage import LocalStorage  # noqa: E402
from pipeline.io.video import encode_frames, iter_video_frames  # noqa: E402
from pipeline.segments import clips as new_clips  # noqa: E402

OLD = "a2f402a"  # the commit before the YUV path
SRC = ROOT / "data/bench/bench-7-20s.mp4"  # `laps bench --e2e --seconds 20` renders it
LONG = ROOT / "data/bench/bench-7-20s-x6.mp4"
STORE = ROOT / "data/bench/e2e-store"
N, SIZE = 600, (342, 256)
WORK = Path(tempfile.mkdtemp(prefix="clip-costs-"))


def _old_modules():
    """The old video.py and clips.py, importable as ``old_video`` and ``old_clips``."""
    for name, path in (("old_video", "pipeline/io/video.py"),
                       ("old_clips", "pipeline/segments/clips.py")):  # fmt: skip
        text = subprocess.run(["git", "-C", str(ROOT), "show", f"{OLD}:{path}"], check=True,
                              capture_output=True, text=True).stdout  # fmt: skip
        text = text.replace("from pipeline.io.video import", "from old_video import")
        (WORK / f"{name}.py").write_text(text)
    sys.path.insert(0, str(WORK))
    mods = []
    for name in ("old_video", "old_clips"):
        spec = importlib.util.spec_from_file_location(name, WORK / f"{name}.py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        mods.append(mod)
    return mods


def med(fn, reps: int = 3) -> tuple[float, float]:
    cpu, wall = [], []
    for _ in range(reps):
        c0, w0 = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c0)
        wall.append(time.perf_counter() - w0)
    return round(statistics.median(cpu), 3), round(statistics.median(wall), 3)


def rgb(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24").astype(np.float64) for f in c.decode(video=0)]


def psnr(xs, ys) -> float:
    return round(float(np.mean([10 * np.log10(255**2 / np.mean((a - b) ** 2))
                                for a, b in zip(xs, ys, strict=True)])), 2)  # fmt: skip


def micro(old_video) -> dict:
    res: dict = {}

    def count(it):
        return sum(1 for _ in it)

    def rgb_frames(mod):
        return mod.iter_frames(SRC, target_fps=30, source_fps=30, size=SIZE, gray=False,
                               end_frame=N)  # fmt: skip

    def plain():
        with av.open(str(SRC)) as c:
            return count(f for _, f in zip(range(N), c.decode(video=0), strict=False))

    res["decode_plain"] = med(plain)
    res["decode+rgb_scale_old"] = med(lambda: count(rgb_frames(old_video)))
    res["decode+rgb_scale_new"] = med(lambda: count(rgb_frames(new_video)))
    for mod, label in ((old_video, "old"), (new_video, "new")):
        res[f"decode+gray_320_10hz_{label}"] = med(lambda mod=mod: count(mod.iter_frames(
            SRC, target_fps=10, source_fps=30, short_side=320, end_frame=N)))  # fmt: skip
    for interp in ("AREA", "BILINEAR", "FAST_BILINEAR"):
        res[f"decode+yuv_scale_{interp}"] = med(
            lambda interp=interp: count(
                iter_video_frames(
                    SRC, size=SIZE, target_fps=30, source_fps=30, end_frame=N, interpolation=interp
                )
            )
        )
    ref = [f.image.astype(np.float64) for f in rgb_frames(old_video)]

    def old_clip(out, preset):
        imgs = (f.image for f in rgb_frames(old_video))
        old_video.encode_frames(imgs, out, fps=30.0, crf=20, preset=preset, threads=1)

    def new_clip(out, preset, interp="AREA", target=30.0):
        frames = iter_video_frames(SRC, size=SIZE, target_fps=target, source_fps=30.0,
                                   end_frame=N, interpolation=interp)  # fmt: skip
        encode_frames((f for _, f in frames), out, fps=min(30.0, target), crf=20,
                      preset=preset, threads=1)  # fmt: skip

    def row(out, fn, with_psnr=True):
        cpu, wall = med(fn)
        r = {"cpu_s": cpu, "wall_s": wall, "bytes_per_clip_s": round(out.stat().st_size / (N / 30))}
        if with_psnr:
            r["psnr_db"] = psnr(rgb(out), ref)
        return r

    out = WORK / "old-veryfast.mp4"
    res["clip_old_rgb_veryfast"] = row(out, lambda: old_clip(out, "veryfast"))
    old = rgb(out)
    for interp in ("AREA", "BILINEAR", "FAST_BILINEAR"):
        o = WORK / f"yuv-{interp}.mp4"
        r = row(o, lambda o=o, i=interp: new_clip(o, "veryfast", i))
        res[f"clip_yuv_{interp}_veryfast"] = r
        r["psnr_vs_old_clip_db"] = psnr(rgb(o), old)
    for preset in ("ultrafast", "superfast", "veryfast"):
        o = WORK / f"yuv-{preset}.mp4"
        res[f"preset_{preset}_AREA"] = row(o, lambda o=o, p=preset: new_clip(o, p))
    for preset in ("superfast", "veryfast"):
        o = WORK / f"yuv-{preset}-10hz.mp4"
        res[f"clip_yuv_AREA_{preset}_10hz"] = row(
            o, lambda o=o, p=preset: new_clip(o, p, target=10.0), with_psnr=False
        )
    return res


def stage(old_clips) -> dict:
    part = next((STORE / "tables/segments").rglob("*.parquet"))
    seg = pq.read_table(part).to_pylist()
    seconds = max(s["end_frame"] for s in seg) / 30.0
    res = {}
    for label, mod, cfg in [
        ("old_veryfast", old_clips, old_clips.ClipConfig()),
        ("new_veryfast", new_clips, new_clips.ClipConfig(preset="veryfast")),
        ("new_superfast", new_clips, new_clips.ClipConfig(preset="superfast")),
        ("new_superfast_10hz", new_clips, new_clips.ClipConfig(preset="superfast", fps=10.0)),
        ("new_ultrafast", new_clips, new_clips.ClipConfig(preset="ultrafast")),
    ]:
        root = WORK / label

        def cut(mod=mod, cfg=cfg, root=root):
            shutil.rmtree(root, ignore_errors=True)
            specs = [mod.ClipSpec(f"clips/v/{s['segment_id']}.mp4", s["start_frame"],
                                  s["end_frame"]) for s in seg]  # fmt: skip
            st = mod.write_clips(LocalStorage(root), LONG, specs, fps=30.0, width=640,
                                 height=480, config=cfg)  # fmt: skip
            assert set(st.values()) == {"written"}

        cpu, wall = med(cut)
        size = sum(p.stat().st_size for p in root.rglob("*.mp4"))
        res[label] = {"clips": len(seg), "cpu_s": round(cpu, 2), "wall_s": round(wall, 2),
                      "cpu_s_per_video_s": round(cpu / seconds, 4),
                      "bytes_per_clip_s": round(size / seconds)}  # fmt: skip
        print(label, res[label], file=sys.stderr, flush=True)
    return res


if __name__ == "__main__":
    old_video, old_clips = _old_modules()
    what = sys.argv[1] if len(sys.argv) > 1 else "micro"
    print(json.dumps(micro(old_video) if what == "micro" else stage(old_clips), indent=1))
    shutil.rmtree(WORK, ignore_errors=True)
