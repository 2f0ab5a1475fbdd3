"""Per-step motion centroid (x, y in [-1, 1]) and spread from a store's tracks (experiment)."""
import numpy as np
from scipy.ndimage import gaussian_filter1d

from pipeline.io.storage import open_storage
from pipeline.io.tables import read_partition
from pipeline.segments.motion import _active, conveyor_weights, step_velocities
from pipeline.tracks.store import load_tracks


def centroids(store_root, date, station, video_id, smooth=1.0, out_smooth=3.0):
    store = open_storage(store_root)
    win = [w for w in read_partition(store, "windows", date, station).to_pylist() if w["video_id"] == video_id]
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
    res = gaussian_filter1d(res, smooth, axis=0, mode="nearest")
    act, _ = _active(res, 3.0)
    act = act * w
    c = (np.arange(g) + 0.5) / g * 2 - 1
    yy, xx = np.meshgrid(c, c, indexing="ij")
    px, py = xx.reshape(-1), yy.reshape(-1)
    tot = act.sum(1)
    cx = np.where(tot > 0, act @ px / np.maximum(tot, 1e-12), np.nan)
    cy = np.where(tot > 0, act @ py / np.maximum(tot, 1e-12), np.nan)
    out = np.stack([cx, cy], 1)
    for j in range(2):  # fill gaps by carrying the last value (idle: where the hand rests)
        v = out[:, j]
        ok = np.isfinite(v)
        if ok.any():
            idx = np.where(ok, np.arange(v.size), 0)
            np.maximum.accumulate(idx, out=idx)
            v = v[idx]
            v[: np.argmax(ok)] = v[np.argmax(ok)]
        else:
            v = np.zeros_like(v)
        out[:, j] = gaussian_filter1d(v, out_smooth, mode="nearest")
    return out
