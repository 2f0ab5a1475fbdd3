"""Issue 12 experiments (dev data only): re-segment a `laps segment` store's videos with feature
and merge variants, without re-tracking, and score boundaries and counts against ground truth.

    python gran.py STORE GT_DIR VARIANT [VARIANT ...]

Research code, not part of the product; results in BENCHMARKS.md (issue 12 section).
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))
from pipeline.evaluation.harness import evaluate_pair  # noqa: E402
from pipeline.io.keys import store_video_stems  # noqa: E402
from pipeline.io.storage import open_storage  # noqa: E402
from pipeline.io.tables import list_partitions, read_table  # noqa: E402
from pipeline.segments.config import SegmentationConfig  # noqa: E402
from pipeline.segments.segfile import SegmentFile, read_segments  # noqa: E402
from pipeline.segments.segmenters import ChangePointSegmenter  # noqa: E402
from pipeline.segments.stage import load_signals  # noqa: E402
from pipeline.segments.station import _hand_features  # noqa: E402

GRAN = []  # granularity of each fit, in order


def load(store_root, gt_dir):
    store = open_storage(store_root)
    videos = read_table(store, "videos")
    stems = store_video_stems(videos.select(["video_id", "file_name", "date", "station"]).to_pylist())
    out = []
    cfg = SegmentationConfig()
    for date, station in list_partitions(store, "codes"):
        rows, signals, _ = load_signals(store, date, station, track_features=cfg)
        for row in rows:
            stem = stems[row["video_id"]]
            gt = read_segments(Path(gt_dir) / f"{stem}.segments.json")
            out.append((stem, row, signals[row["video_id"]], gt))
    return out, cfg


def segment(sig, cfg, variant, cents=None):
    feats = sig.step_features(cfg.features, cfg.weights())
    t = sig.step_times()
    for part in variant.split("+"):
        if part.startswith("psmooth"):
            from granularity_exp import local_period
            r = float(part[7:] or 0.5)
            per, rho = local_period(feats[:, 0], 10.0)
            sm = feats.copy()
            for i in np.flatnonzero(rho > r):
                h = per[i] // 2
                sm[i] = feats[max(0, i - h): i + h + 1].mean(0)
            feats = sm
    p = cfg.changepoint.model_copy(update={"standardize": False})
    for part in variant.split("+"):
        if part.startswith("beta"):
            p = p.model_copy(update={"beta": float(part[4:])})
        if part.startswith("min"):
            p = p.model_copy(update={"min_size_sec": float(part[3:])})
        if part.startswith("tail"):
            p = p.model_copy(update={"tail_sec": float(part[4:])})
        if part == "rbf":
            p = p.model_copy(update={"kernel": "rbf"})
        if part in ("consensus", "knee", "noise_gain", "repeat", "adaptive"):
            p = p.model_copy(update={"rule": part})
        for key in ("gate", "merge", "ctx"):  # repeat: gateG, mergeM, ctxS
            if part.startswith(key) and part[len(key):][:1].isdigit():
                name = {"gate": "repeat_gate", "merge": "repeat_merge",
                        "ctx": "repeat_context_sec"}[key]
                p = p.model_copy(update={name: float(part[len(key):])})
    spatial = sig.motion.spatial if sig.motion is not None else None
    if "nohands" in variant.split("+"):
        p = p.model_copy(update={"hands": False})
    for part in variant.split("+"):  # hands: hgateG, hmergeS
        for key, name in (("hgate", "hands_gate"), ("hmerge", "hands_merge_sec")):
            if part.startswith(key) and part[len(key):][:1].isdigit():
                p = p.model_copy(update={name: float(part[len(key):])})
    hands = _hand_features(sig, cfg) if p.hands else None
    cp = ChangePointSegmenter.from_params(p)
    cp.fit(feats, t, end_sec=sig.duration_sec, spatial=spatial, hands=hands)
    GRAN.append(cp.granularity())
    pieces = cp.predict()
    for part in variant.split("+"):
        if part.startswith("switch"):  # knee when the noise_gain count is > R x the knee count
            ratio = float(part[6:])
            knee = ChangePointSegmenter.from_params(p.model_copy(update={"rule": "knee"}))
            knee.fit(feats, t, end_sec=sig.duration_sec)
            if len(pieces) > ratio * len(knee.predict()):
                pieces = knee.predict()
    for part in variant.split("+"):
        if part.startswith("both"):
            from granularity_exp import merge_both
            e_thr, c_thr = (float(v) for v in part[4:].split(","))
            pieces = merge_both(pieces, feats, cents, t, e_thr, c_thr)
        elif part.startswith("mmd"):
            from granularity_exp import merge_mmd
            pieces = merge_mmd(pieces, feats, t, q=float(part[3:] or 90))
        elif part.startswith("merge") and not part[5:][:1].isdigit():
            from granularity_exp import merge_similar
            pieces = merge_similar(pieces, feats, t, part)
    return pieces


CACHE = {}


def row_date(store):
    return list_partitions(open_storage(store), "codes")[0][0]


def row_station(store):
    return list_partitions(open_storage(store), "codes")[0][1]


def main():
    store, gt_dir, *variants = sys.argv[1:]
    data, cfg = load(store, gt_dir)
    for variant in variants:
        f1s, f05, ratios, npred, ntrue, segf = [], [], [], [], [], []
        GRAN.clear()
        for stem, row, sig, gt in data:
            cents = None
            if "both" in variant:
                from centroid import centroids
                cents = CACHE.get(stem)
                if cents is None:
                    cents = CACHE[stem] = centroids(store, row_date(store), row_station(store), row["video_id"])
                cents = cents[: sig.step_features(cfg.features, cfg.weights()).shape[0]]
            pieces = segment(sig, cfg, variant, cents)
            pred = SegmentFile(gt.video, gt.fps, gt.duration_sec, tuple(pieces))
            s = evaluate_pair(gt, pred)
            f1s.append(s["boundary_f1@1.0"]); f05.append(s["boundary_f1@0.5"])
            segf.append(s["segment_f1@0.5"])
            npred.append(s["n_pred"]); ntrue.append(s["n_true"])
        print(f"{variant:40s} F1@0.5 {np.mean(f05):.3f} F1@1 {np.mean(f1s):.3f} "
              f"n_pred {np.mean(npred):.1f} n_true {np.mean(ntrue):.1f} "
              f"count err {np.mean(np.array(npred) / np.array(ntrue)) - 1:+.2f} "
              f"segF1 {np.mean(segf):.3f} hands fired "
              f"{sum(bool((g.get('hands') or {}).get('fired')) for g in GRAN)} of {len(GRAN)}; "
              "scores " + " ".join(
                  f"{(g.get('hands') or {}).get('score') or 0:.2f}" for g in GRAN), flush=True)


if __name__ == "__main__":
    main()
