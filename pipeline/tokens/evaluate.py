"""`laps eval-tokenizer`: how much a store's current tokenizer's codes say about the motion.

Reads the store's track files (``tables/windows`` -> ``tracks_key``) and its current checkpoint.
The decoder scores (``models.evaluate.informativeness``) are computed on the **held-out videos
of the training split**: the checkpoint's ``meta.validation_videos`` (``models.data`` split by
video hash; for a single video its validation blocks), with the same kept windows as in
training (``keep_mask``: every ungated window and the hashed share of gated ones). A checkpoint
without a recorded split (installed with ``--checkpoint``, or untrained) is scored on the split
``models.data`` would make of the store's videos, and the report says so (``split_source``).

Codebook usage is over every window of the store.

With ground truth (``<gt>/<stem>.segments.json``, stems as ``pipeline.io.keys.store_video_stems``
names the store's videos), from the store's ``codes`` and ``windows`` tables and track energies
(``pipeline.segments.stage.load_signals``), over all videos with ground truth and over the
held-out ones alone:

- ``auc``: ROC AUC of per-window LAE (on the quantized latents; ``lae_pre`` on the
  pre-quantization ones) for active vs idle windows (a window is active when its centre lies in a
  ground-truth segment not labelled ``idle``), beside raw window ``track_speed``; gated windows
  have energy and speed 0, as in the segmenter;
- ``nmi``: every ground-truth active segment is summarised by the mean, spread (std) and mean
  absolute step change of its per-step ``latent_pre`` timeline; the summaries are standardised and
  clustered with k-means (k = number of true labels, ``seed``, 10 inits); NMI against the true
  labels. Beside it the same summary of the per-step track signals (motion and occlusion
  energies, window track speed and flow magnitude interpolated per step) plus duration.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import torch

from models.checkpoint import CheckpointError, load_checkpoint
from models.data import VideoWindows, keep_mask, split_single_video, split_videos
from models.evaluate import codebook_usage, encode_all, informativeness
from models.tokenizer import MotionTokenizer, TokenizerConfig
from pipeline.errors import EvaluationError, NoTokenizerError, SegmentFileError, TokenizerError
from pipeline.io.keys import store_video_stems
from pipeline.io.storage import Storage, open_storage
from pipeline.io.tables import list_partitions, read_table
from pipeline.tokens.runners import current_tokenizer
from pipeline.tokens.stage import training_files
from pipeline.tokens.training_data import load_videos

log = logging.getLogger(__name__)


def load_current_model(store: Storage) -> tuple[MotionTokenizer, TokenizerConfig, dict[str, Any]]:
    current = current_tokenizer(store)
    if current is None:
        raise NoTokenizerError(f"{store.root}: no tokenizer (models/tokenizer/current.json)")
    with store.local_path(current["checkpoint_key"]) as path:
        try:
            return load_checkpoint(path)
        except CheckpointError as exc:
            raise TokenizerError(f"tokenizer {current['version']}: {exc}") from exc


def heldout_masks(
    videos: Sequence[VideoWindows], cfg: TokenizerConfig, meta: Mapping[str, Any]
) -> tuple[dict[str, np.ndarray], str]:
    """video_id -> (W,) bool of its held-out windows (videos without any are left out), and
    where the split came from (``checkpoint`` or ``recomputed``)."""
    ids = [v.video_id for v in videos]
    split = meta.get("split") or {}
    recorded = meta.get("validation_videos")
    if recorded is not None and split.get("mode") != "no_validation":
        source, val_ids = "checkpoint", [str(v) for v in recorded]
    else:
        source = "recomputed"
        val_ids = (
            ids
            if len(ids) == 1 and cfg.val_fraction > 0
            else split_videos(ids, cfg.val_fraction)[1]
        )
    out: dict[str, np.ndarray] = {}
    for v in videos:
        if v.video_id not in val_ids:
            continue
        keep = keep_mask(v, cfg.gated_keep_fraction)
        if split.get("mode") == "single_video_blocks" or (source == "recomputed" and len(ids) == 1):
            _, val = split_single_video(
                v.video_id, v.window_index, cfg.val_fraction, cfg.window_frames
            )
            keep = keep & val
        out[v.video_id] = keep
    missing = sorted(set(val_ids) - set(ids))
    if missing:
        log.warning("%d held-out videos of the checkpoint are not in the store: %s",
                    len(missing), missing[:3])  # fmt: skip
    return out, source


def _roc_auc(score: np.ndarray, label: np.ndarray) -> float:
    from sklearn.metrics import roc_auc_score

    if label.all() or not label.any():
        return math.nan
    return float(roc_auc_score(label, score))


def _summary(x: np.ndarray) -> np.ndarray:
    """(steps, d) -> (3d,) mean, std and mean absolute step change."""
    step = np.abs(np.diff(x, axis=0)).mean(axis=0) if x.shape[0] > 1 else np.zeros(x.shape[1])
    return np.concatenate([x.mean(axis=0), x.std(axis=0), step])


def _kmeans_nmi(features: np.ndarray, labels: Sequence[str], seed: int) -> float:
    from sklearn.cluster import KMeans
    from sklearn.metrics import normalized_mutual_info_score

    k = len(set(labels))
    if k < 2 or len(labels) <= k:
        return math.nan
    sd = features.std(axis=0)
    z = (features - features.mean(axis=0)) / np.where(sd > 0, sd, 1.0)
    pred = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(z)
    return float(normalized_mutual_info_score(list(labels), pred))


def ground_truth_scores(
    store: Storage, gt_dir: Path, heldout: set[str], version: str, *, seed: int = 0
) -> dict[str, Any]:
    """AUC and NMI of the module doc, ``{"all": {...}, "heldout": {...}}``."""
    from pipeline.segments.config import SegmentationConfig
    from pipeline.segments.energy import step_timeline
    from pipeline.segments.segfile import SEGMENT_SUFFIX, read_segments
    from pipeline.segments.stage import load_signals

    if not gt_dir.is_dir():
        raise EvaluationError(f"ground-truth folder not found: {gt_dir}")
    videos = read_table(store, "videos")
    if videos is None:
        raise EvaluationError(f"{store.root}: no videos table")
    stems = store_video_stems(
        videos.select(["video_id", "file_name", "date", "station"]).to_pylist()
    )
    per_video: dict[str, dict[str, Any]] = {}
    cfg = SegmentationConfig()
    for date, station in list_partitions(store, "codes"):
        _, signals, tok = load_signals(store, date, station, track_features=cfg)
        if tok.get("tokenizer_version") not in (None, version):
            raise EvaluationError(
                f"{date}/{station}: codes are of tokenizer {tok.get('tokenizer_version')}, the "
                f"current one is {version}: run the codes stage (laps segment) again"
            )
        for vid, sig in signals.items():
            gt_path = gt_dir / f"{stems.get(vid, vid)}{SEGMENT_SUFFIX}"
            if not gt_path.exists():
                continue
            try:
                gt = read_segments(gt_path)
            except SegmentFileError as exc:
                raise EvaluationError(f"ground truth {gt_path}: {exc}") from exc
            active_spans = [(s.start_sec, s.end_sec, s.label) for s in gt.segments
                            if s.label not in (None, "idle")]  # fmt: skip
            c = sig.centre_sec
            active = np.zeros(c.shape, bool)
            for a, b, _ in active_spans:
                active |= (c >= a) & (c < b)
            t = sig.step_times()
            zpre = step_timeline(sig.z_pre, sig.window_index, stride=sig.stride, gated=sig.gated)
            zpre_v = zpre.values[: t.size]
            track = [_fit(getattr(sig.motion, name, np.zeros(0)), t.size)
                     for name in ("motion", "occlusion")]  # fmt: skip
            for col in ("track_speed", "flow_magnitude"):
                track.append(np.interp(t, c, np.where(sig.gated, 0.0, sig.stats[col])))
            track_v = np.stack(track, axis=1)
            lat_f, trk_f, labs = [], [], []
            for a, b, lab in active_spans:
                sel = (t >= a) & (t < b)
                if sel.sum() < 1:
                    continue
                lat_f.append(_summary(zpre_v[sel]))
                trk_f.append(np.concatenate([_summary(track_v[sel]), [b - a]]))
                labs.append(lab)
            per_video[vid] = {
                "lae": sig.energy("lae"),
                "lae_pre": sig.energy("lae_pre"),
                "track_speed": np.where(sig.gated, 0.0, sig.stats["track_speed"]),
                "active": active,
                "lat": lat_f,
                "trk": trk_f,
                "labels": labs,
            }
    if not per_video:
        raise EvaluationError(f"no video of {store.root} has ground truth in {gt_dir}")
    scopes = {"all": sorted(per_video), "heldout": sorted(set(per_video) & heldout)}
    out: dict[str, Any] = {}
    for scope, ids in scopes.items():
        if not ids:
            out[scope] = None
            continue
        cat = {k: np.concatenate([per_video[v][k] for v in ids]) for k in
               ("lae", "lae_pre", "track_speed", "active")}  # fmt: skip
        labs = [lab for v in ids for lab in per_video[v]["labels"]]
        lat = np.array([f for v in ids for f in per_video[v]["lat"]]).reshape(len(labs), -1)
        trk = np.array([f for v in ids for f in per_video[v]["trk"]]).reshape(len(labs), -1)
        active = cat["active"].astype(bool)
        out[scope] = {
            "videos": len(ids),
            "windows": int(active.size),
            "active_share": float(active.mean()) if active.size else math.nan,
            "auc_lae": _roc_auc(cat["lae"], active),
            "auc_lae_pre": _roc_auc(cat["lae_pre"], active),
            "auc_track_speed": _roc_auc(cat["track_speed"], active),
            "segments": len(labs),
            "labels": len(set(labs)),
            "nmi_latent": _kmeans_nmi(lat, labs, seed),
            "nmi_track": _kmeans_nmi(trk, labs, seed),
        }
    return out


def _fit(x: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros(n)
    m = min(n, x.size)
    out[:m] = x[:m]
    return out


def evaluate_tokenizer(
    store_root: str | Path, gt_dir: str | Path | None = None, *, seed: int = 0
) -> dict[str, Any]:
    """The report of the module doc as a JSON-able dict."""
    store = open_storage(str(store_root))
    model, cfg, meta = load_current_model(store)
    files = training_files(store)
    if not files:
        raise EvaluationError(f"{store_root}: no stored tracks (tables/windows)")
    with ExitStack() as stack:
        local = [(vid, stack.enter_context(store.local_path(key))) for vid, key in files]
        videos = load_videos(local, cfg)
    masks, source = heldout_masks(videos, cfg, meta)
    if not masks:
        raise EvaluationError(f"{store_root}: no held-out video of the training split")
    held = [v for v in videos if v.video_id in masks]
    vel = torch.from_numpy(np.concatenate([v.velocities[masks[v.video_id]] for v in held]))
    fs = torch.from_numpy(np.concatenate([v.frame_size[masks[v.video_id]] for v in held]))
    torch.manual_seed(seed)
    info = informativeness(model, vel, fs, seed=seed)
    all_codes = [encode_all(model, torch.from_numpy(v.velocities))[1].numpy() for v in videos]
    report: dict[str, Any] = {
        "store": str(store_root),
        "tokenizer_version": meta["tokenizer_version"],
        "split_source": source,
        "heldout_videos": sorted(masks),
        "heldout_windows": int(vel.shape[0]),
        "videos": len(videos),
        "decoder": info,
        "codebook_all": codebook_usage(np.concatenate(all_codes), cfg.codebook_size).to_dict(),
        "seed": seed,
    }
    if gt_dir is not None:
        report["ground_truth"] = ground_truth_scores(
            store, Path(gt_dir), set(masks), meta["tokenizer_version"], seed=seed
        )
    return report


def report_markdown(report: Mapping[str, Any]) -> str:
    """A short human-readable table of the report (stdout of ``laps eval-tokenizer``)."""
    d = report["decoder"]
    lines = [
        f"tokenizer {report['tokenizer_version']}: {report['heldout_windows']} held-out windows "
        f"of {len(report['heldout_videos'])} videos (split: {report['split_source']})",
        "",
        "| codes | moving loss | moving acc | EPE px | all-points loss | all-points acc |",
        "|---|---|---|---|---|---|",
    ]
    for k in ("true", "shuffled", "constant"):
        s = d[k]
        lines.append(
            f"| {k} | {s['loss']:.3f} | {s['accuracy']:.3f} | {s['epe_px']:.3f} | "
            f"{s['loss_all']:.3f} | {s['accuracy_all']:.3f} |"
        )
    cb = report["codebook_all"]
    lines += [
        "",
        f"shuffled/true moving loss: +{100 * d['shuffle_gain']:.1f} %; constant/true: "
        f"+{100 * d['constant_gain']:.1f} %; zero-motion EPE {d['zero_motion_epe_px']:.3f} px; "
        f"moving share {d['true']['n_moving'] / max(d['true']['n_points'], 1):.3f}",
        f"codebook (all {cb['n_tokens']} tokens): {cb['distinct']} of {cb['codebook_size']} "
        f"codes, perplexity {cb['perplexity']:.1f}, top code {100 * cb['top_share']:.1f} %",
    ]
    gt = report.get("ground_truth")
    if gt:
        lines += ["", "| videos | windows | AUC LAE | AUC LAE pre | AUC speed | segments | "
                  "NMI latent | NMI track |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
        for scope, g in gt.items():
            if g is None:
                continue
            lines.append(
                f"| {scope} ({g['videos']}) | {g['windows']} | {g['auc_lae']:.3f} | "
                f"{g['auc_lae_pre']:.3f} | {g['auc_track_speed']:.3f} | {g['segments']} | "
                f"{g['nmi_latent']:.3f} | {g['nmi_track']:.3f} |"
            )
    return "\n".join(lines) + "\n"
