"""Cache, per dev video, what the granularity experiments need (issue 12 item 2, dev only):
step features and times, ground truth, the noise_gain and knee change points, the cost hull,
and per-step spatial descriptors of the moving points (centroid, mean velocity, velocity
second moments) from the track files.

    python cache2.py STORE GT_DIR OUT.pkl
"""

import pickle
import sys
from pathlib import Path

import numpy as np
from scipy.ndimage import gaussian_filter1d

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from pipeline.io.keys import store_video_stems  # noqa: E402
from pipeline.io.storage import open_storage  # noqa: E402
from pipeline.io.tables import list_partitions, read_partition, read_table  # noqa: E402
from pipeline.segments.config import SegmentationConfig  # noqa: E402
from pipeline.segments.motion import _active, conveyor_weights, step_velocities  # noqa: E402
from pipeline.segments.segfile import read_segments  # noqa: E402
from pipeline.segments.segmenters import ChangePointSegmenter  # noqa: E402
from pipeline.segments.segmenters.cpd_path import CostPath  # noqa: E402
from pipeline.segments.stage import load_signals  # noqa: E402
from pipeline.tracks.store import load_tracks  # noqa: E402


def spatial(store, date, station, video_id):
    """(S, 7): cx, cy, vx, vy, vxx, vyy, vxy of the active points (weights = active speed x
    conveyor weight), NaN where nothing moves; and (S,) total activity."""
    win = [w for w in read_partition(store, "windows", date, station).to_pylist()
           if w["video_id"] == video_id]
    keys = sorted({w["tracks_key"] for w in win})
    stride = int(win[0]["stride_frames"])
    g = int(win[0]["grid_size"])

    def parts():
        for k in keys:
            with store.local_path(k) as p:
                yield load_tracks(p)

    st = step_velocities(parts(), stride=stride)
    res = np.array(st.velocities, np.float32)
    res -= np.median(res, axis=0)
    w = conveyor_weights(res)
    res = gaussian_filter1d(res, 1.0, axis=0, mode="nearest")
    act, _ = _active(res, 3.0)
    act = act * w
    c = (np.arange(g) + 0.5) / g * 2 - 1
    yy, xx = np.meshgrid(c, c, indexing="ij")
    px, py = xx.reshape(-1), yy.reshape(-1)
    tot = act.sum(1)
    den = np.maximum(tot, 1e-12)[:, None]
    vx, vy = res[..., 0], res[..., 1]
    out = np.stack([act @ px, act @ py, (act * vx).sum(1), (act * vy).sum(1),
                    (act * vx * vx).sum(1), (act * vy * vy).sum(1), (act * vx * vy).sum(1)], 1)
    out = out / den
    out[tot <= 0] = np.nan
    return out, tot


def load(store_root, gt_dir):
    """gran.load with each video's partition."""
    store = open_storage(store_root)
    videos = read_table(store, "videos")
    stems = store_video_stems(
        videos.select(["video_id", "file_name", "date", "station"]).to_pylist())
    cfg = SegmentationConfig()
    for date, station in list_partitions(store, "codes"):
        rows, signals, _ = load_signals(store, date, station, track_features=cfg)
        for row in rows:
            stem = stems[row["video_id"]]
            gt = read_segments(Path(gt_dir) / f"{stem}.segments.json")
            yield stem, date, station, row, signals[row["video_id"]], gt, cfg


def main():
    store_root, gt_dir, out = sys.argv[1:]
    store = open_storage(store_root)
    rows = []
    for stem, date, station, row, sig, gt, cfg in load(store_root, gt_dir):
        f = sig.step_features(cfg.features, cfg.weights())
        t = sig.step_times()
        p = cfg.changepoint.model_copy(update={"standardize": False})
        ng = ChangePointSegmenter.from_params(p).fit(f, t, end_sec=sig.duration_sec)
        kn = ChangePointSegmenter.from_params(p.model_copy(update={"rule": "knee"}))
        kn.fit(f, t, end_sec=sig.duration_sec)
        dt = float(np.median(np.diff(t)))
        path = CostPath(f, kernel="linear", min_size=max(2, int(round(p.min_size_sec / dt))))
        hull = path.full(per_decade=p.per_decade)
        sp, tot = spatial(store, date, station, row["video_id"])
        rows.append(dict(stem=stem, f=f, t=t, dur=sig.duration_sec, gt=gt,
                         ng=ng.predict_bkps(), knee=kn.predict_bkps(), noise_gain=ng.noise_gain_,
                         hull=[(q.n_bkps, q.cost, q.penalty) for q in hull],
                         sp=sp[: f.shape[0]], act=tot[: f.shape[0]]))
        print(stem, len(gt.segments), len(rows[-1]["ng"]), len(rows[-1]["knee"]), flush=True)
    with open(out, "wb") as fh:
        pickle.dump(rows, fh)


if __name__ == "__main__":
    main()
