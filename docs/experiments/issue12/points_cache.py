"""Cache, per dev video, the per-point motion evidence the two-hands experiments need (issue 12
item 1b, dev only): step features and times, ground truth, spatial descriptors, and per grid
point the weighted active speed and the lost flags (the inputs of ``motion_features``'s sums).

    python points_cache.py STORE GT_DIR OUT.pkl

Research code, not part of the product; results in BENCHMARKS.md (issue 12 section, "Two hands").
"""

import pickle
import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from pipeline.io.keys import store_video_stems  # noqa: E402
from pipeline.io.storage import open_storage  # noqa: E402
from pipeline.io.tables import list_partitions, read_partition, read_table  # noqa: E402
from pipeline.segments.config import SegmentationConfig  # noqa: E402
from pipeline.segments.motion import NOISE_K, _active, conveyor_weights, step_velocities  # noqa: E402
from pipeline.segments.segfile import read_segments  # noqa: E402
from pipeline.segments.stage import load_signals  # noqa: E402
from pipeline.tracks.store import load_tracks  # noqa: E402


def points(store, date, station, video_id, smooth):
    win = [
        w
        for w in read_partition(store, "windows", date, station).to_pylist()
        if w["video_id"] == video_id
    ]
    keys = sorted({w["tracks_key"] for w in win})
    stride = int(win[0]["stride_frames"])

    def parts():
        for k in keys:
            with store.local_path(k) as p:
                yield load_tracks(p)

    st = step_velocities(parts(), stride=stride)
    res = np.array(st.velocities, np.float32)
    res -= np.median(res, axis=0)
    w = conveyor_weights(res, noise_k=NOISE_K).astype(np.float32)
    if smooth > 0:
        res = gaussian_filter1d(res, smooth, axis=0, mode="nearest")
    act, _ = _active(res, NOISE_K)
    lost = st.lost.astype(np.float32)
    lost -= np.median(lost, axis=0)
    act, lost = (act * w).astype(np.float32), (lost * w).astype(np.float32)
    return act, lost, res.astype(np.float16), stride


def main():
    store_root, gt_dir, out = sys.argv[1:]
    store = open_storage(store_root)
    videos = read_table(store, "videos")
    stems = store_video_stems(
        videos.select(["video_id", "file_name", "date", "station"]).to_pylist()
    )
    cfg = SegmentationConfig()
    rows = []
    for date, station in list_partitions(store, "codes"):
        vids, signals, _ = load_signals(store, date, station, track_features=cfg)
        for row in vids:
            sig = signals[row["video_id"]]
            stem = stems[row["video_id"]]
            gt = read_segments(Path(gt_dir) / f"{stem}.segments.json")
            f = sig.step_features(cfg.features, cfg.weights())
            act, lost, res, stride = points(
                store, date, station, row["video_id"], cfg.motion_smooth_steps
            )
            rows.append(
                dict(
                    stem=stem,
                    f=f,
                    t=sig.step_times(),
                    dur=sig.duration_sec,
                    gt=gt,
                    spatial=sig.motion.spatial,
                    act=act,
                    lost=lost,
                    res=res,
                    stride=stride,
                    motion=sig.motion.motion,
                )
            )
            print(stem, f.shape, act.shape, flush=True)
    with open(out, "wb") as fh:
        pickle.dump(rows, fh)


if __name__ == "__main__":
    main()
