"""Stage functions of the tokenizer: train (or reuse) a checkpoint from stored tracks, and
write latent codes for every window of a partition. Called by the CLI and the Dagster assets.

Store layout::

    models/tokenizer/<tokenizer_version>/tokenizer.pt, loss.csv, loss.png, training.json
    models/tokenizer/current.json      pointer to the checkpoint in use (written last)

Retrain decision (``decide_training``, logged at INFO and returned as ``TokenizerInfo.decision``):
train when forced, when there is no tokenizer yet (or the current one was installed from a
file), when the model config changed, or when stations appear that the current tokenizer was
not trained on. New track files of known stations (a new partition of a known station) reuse
the current tokenizer under the default policy ``retrain="new_stations"``; the policy
``"new_files"`` retrains whenever the set of track files changes.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch

from models.checkpoint import CheckpointError, load_checkpoint
from models.device import device_name
from models.infer import TokenizerRunner
from models.tokenizer import TokenizerConfig
from models.train import CHECKPOINT_NAME, LOSS_CSV_NAME, train_tokenizer
from pipeline.context import Progress, StageSummary, no_progress
from pipeline.errors import NoTokenizerError, TokenizerError
from pipeline.io import schemas
from pipeline.io.keys import tokenizer_key
from pipeline.io.scratch import scratch_dir
from pipeline.io.storage import Storage
from pipeline.io.tables import read_partition, read_table, write_partition
from pipeline.tokens.plots import LOSS_PNG_NAME, plot_loss
from pipeline.tokens.runners import (
    CURRENT_KEY,
    cached_runner,
    check_windows,
    current_tokenizer,
    run_device,
)
from pipeline.tokens.training_data import load_videos
from pipeline.tracks.store import load_tracks

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class TokenizerInfo:
    version: str
    checkpoint_key: str
    trained: bool  # False: an existing checkpoint was reused
    training_digest: str
    num_videos: int
    history: list[dict[str, float]]
    loss_plot_key: str | None
    decision: str = ""  # why it was trained or reused (logged)


RetrainPolicy = Literal["new_stations", "new_files"]


@dataclass(frozen=True)
class TrainingDecision:
    train: bool
    reason: str


def training_files(store: Storage, *, station: str | None = None) -> list[tuple[str, str]]:
    """(video_id, tracks key) of every stored chunk of tracks, sorted (deterministic)."""
    table = read_table(store, "windows", station=station)
    if table is None:
        return []
    pairs = set(
        zip(
            table.column("video_id").to_pylist(),
            table.column("tracks_key").to_pylist(),
            strict=True,
        )
    )
    return sorted(pairs)


def file_stations(store: Storage, *, station: str | None = None) -> dict[str, str]:
    """tracks key -> station of every stored chunk of tracks (or one station's)."""
    table = read_table(store, "windows", station=station)
    if table is None:
        return {}
    keys = table.column("tracks_key").to_pylist()
    return dict(zip(keys, table.column("station").to_pylist(), strict=True))


def decide_training(
    current: dict[str, Any] | None,
    cfg: TokenizerConfig,
    files: list[tuple[str, str]],
    stations: dict[str, str],
    *,
    force: bool = False,
    retrain: RetrainPolicy = "new_stations",
) -> TrainingDecision:
    """Train or reuse (module doc); ``stations``: tracks key -> station."""
    digest = _digest(files, cfg)
    if force:
        return TrainingDecision(True, "forced (--force)")
    if current is None:
        return TrainingDecision(True, "no tokenizer trained yet")
    if not current.get("training_digest"):
        return TrainingDecision(True, "the current tokenizer was installed, not trained here")
    if current.get("config") != cfg.model_dump(mode="json"):
        return TrainingDecision(True, "the tokenizer config changed")
    if current["training_digest"] == digest:
        return TrainingDecision(False, "same config and training files")
    known = current.get("training_stations")
    now = sorted({stations.get(k, "") for _, k in files})
    if known is None:
        return TrainingDecision(True, "the current tokenizer does not record its stations")
    new = [st for st in now if st not in known]
    if new:
        return TrainingDecision(True, f"new stations {new}")
    trained = set(current.get("training_files", []))
    added = sum(k not in trained for _, k in files)
    if retrain == "new_files":
        return TrainingDecision(True, f"{added} new track files (retrain policy new_files)")
    return TrainingDecision(
        False,
        f"no new stations; {added} track files of known stations not trained on "
        "(policy new_stations; --force or retrain=new_files trains on them)",
    )


def _digest(files: list[tuple[str, str]], cfg: TokenizerConfig) -> str:
    blob = cfg.fingerprint() + "\n" + "\n".join(f"{v}:{k}" for v, k in files)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def train_or_reuse(
    store: Storage,
    cfg: TokenizerConfig,
    *,
    station: str | None = None,
    force: bool = False,
    progress: bool = False,
    max_time_s: float | None = None,
    device: str | torch.device = "auto",
    retrain: RetrainPolicy = "new_stations",
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    on_train_start: Callable[[int], None] | None = None,
) -> TokenizerInfo:
    """Train on every stored track file (or one station's) unless ``decide_training`` says the
    current checkpoint serves (module doc); publish it and point ``current`` at it.
    The device is not part of that decision: a checkpoint trained on CPU is reused on CUDA.
    ``on_train_start`` gets ``max_epochs`` when training (not reuse) begins, ``on_epoch``
    each epoch's history row (``models.train``)."""
    dev = run_device(device)
    files = training_files(store, station=station)
    if not files:
        raise NoTokenizerError("no stored tracks to train on: materialize `tracks` first")
    digest = _digest(files, cfg)
    current = current_tokenizer(store)
    stations = file_stations(store, station=station)
    decision = decide_training(current, cfg, files, stations, force=force, retrain=retrain)
    if not decision.train and current is not None:
        log.info("reusing tokenizer %s: %s", current["version"], decision.reason)
        return TokenizerInfo(
            current["version"],
            current["checkpoint_key"],
            False,
            current["training_digest"],
            current.get("num_videos", 0),
            current.get("history", []),
            current.get("loss_plot_key"),
            f"reused: {decision.reason}",
        )
    log.info("training a tokenizer: %s", decision.reason)
    if on_train_start is not None:
        on_train_start(cfg.max_epochs)
    # scratch_dir: removed on any exit; what a SIGKILLed run left is removed by the next one
    with scratch_dir("laps-train") as tmp, ExitStack() as stack:
        local = [(vid, stack.enter_context(store.local_path(key))) for vid, key in files]
        station_of = {vid: stations.get(key, "") for vid, key in files}
        videos = [
            dataclasses.replace(v, station=station_of.get(v.video_id, ""))
            for v in load_videos(local, cfg)
        ]
        result = train_tokenizer(
            videos, cfg, Path(tmp) / "out", progress=progress, max_time_s=max_time_s, device=dev,
            on_epoch=on_epoch,
        )  # fmt: skip
        version = result.tokenizer_version
        info = {
            "version": version,
            "checkpoint_key": tokenizer_key(version, CHECKPOINT_NAME),
            "loss_plot_key": tokenizer_key(version, LOSS_PNG_NAME),
            "loss_csv_key": tokenizer_key(version, LOSS_CSV_NAME),
            "training_digest": digest,
            "num_videos": len({v for v, _ in files}),
            "training_files": [k for _, k in files],
            "training_stations": sorted(set(station_of.values())),
            "retrain_decision": decision.reason,
            "steps": result.steps,
            "windows": result.windows,
            "windows_per_s": round(result.windows_per_s, 2),
            "stopped_early": result.stopped_early,
            "config": cfg.model_dump(mode="json"),
            "history": result.history,
            "train_seconds": result.train_seconds,
            "device": device_name(dev),
            "num_parameters": result.num_parameters,
            "trained_at": datetime.now(UTC).isoformat(),
        }
        store.put_file(info["loss_csv_key"], result.loss_csv_path)
        png = plot_loss(result.history, Path(tmp) / LOSS_PNG_NAME)
        store.put_file(info["loss_plot_key"], png)
        store.write_bytes(
            tokenizer_key(version, "training.json"), json.dumps(info, indent=2).encode()
        )
        store.put_file(info["checkpoint_key"], result.checkpoint_path)
        store.write_bytes(CURRENT_KEY, json.dumps(info, indent=2).encode())  # pointer last
    return TokenizerInfo(
        info["version"],
        info["checkpoint_key"],
        True,
        digest,
        info["num_videos"],
        result.history,
        info["loss_plot_key"],
        f"trained: {decision.reason}",
    )


def codes_partition(
    store: Storage, date: str, station: str, runner: TokenizerRunner
) -> list[dict[str, Any]]:
    """Encode every stored window of the partition; write the codes table; returns its rows."""
    windows = read_partition(store, "windows", date, station)
    rows: list[dict[str, Any]] = []
    cfg = runner.config
    if windows is not None:
        by_key: dict[str, list[dict]] = {}
        for w in windows.to_pylist():
            by_key.setdefault(w["tracks_key"], []).append(w)
        for key in sorted(by_key):
            with store.local_path(key) as path:
                tracks = load_tracks(path)
            out = runner.encode(tracks.velocities)
            rows.extend(_code_rows(by_key[key], tracks.window_index, out, runner, cfg))
    write_partition(
        store,
        "codes",
        date,
        station,
        rows,
        schema=schemas.CODES,
        schema_version=schemas.CODES_VERSION,
        metadata={
            "tokenizer_version": runner.tokenizer_version,
            "tokenizer_config": cfg.model_dump(mode="json"),
        },
    )
    return rows


def _code_rows(windows: list[dict], index: np.ndarray, out, runner, cfg) -> list[dict]:
    pos = {int(w): i for i, w in enumerate(index)}
    levels = [int(v) for v in cfg.fsq_levels]
    rows = []
    for w in sorted(windows, key=lambda r: r["window_index"]):
        i = pos[w["window_index"]]
        rows.append(
            {
                "video_id": w["video_id"],
                "chunk_index": w["chunk_index"],
                "window_index": w["window_index"],
                "start_frame": w["start_frame"],
                "end_frame": w["end_frame"],
                "start_sec": w["start_sec"],
                "end_sec": w["end_sec"],
                "gated": w["gated"],
                "codes": out.codes[i].tolist(),
                "latent_pre": out.z_pre[i].reshape(-1).tolist(),
                "latent_dim": len(levels),
                "tokenizer_version": runner.tokenizer_version,
                "fsq_levels": levels,
                "codebook_size": cfg.codebook_size,
                "tokens_per_window": cfg.steps,
                "window_frames": w["window_frames"],
                "stride_frames": w["stride_frames"],
                "fps": w["fps"],
                "target_fps": w["target_fps"],
            }
        )
    return rows


def install_checkpoint(store: Storage, path: str | Path) -> TokenizerInfo:
    """Make a user-given checkpoint the current one: validate it (strict load), copy it to
    ``models/tokenizer/<version>/tokenizer.pt`` and point ``current`` at it (pointer last).

    The pointer has no ``training_digest``, so a later ``train_or_reuse`` never mistakes it for
    a checkpoint trained on the store's tracks."""
    try:
        _, cfg, meta = load_checkpoint(Path(path))
    except (CheckpointError, OSError, RuntimeError, ValueError) as exc:
        raise TokenizerError(f"checkpoint {path}: {exc}") from exc
    version = str(meta["tokenizer_version"])
    key = tokenizer_key(version, CHECKPOINT_NAME)
    if not store.exists(key):
        store.put_file(key, path)
    info = {
        "version": version,
        "checkpoint_key": key,
        "training_digest": None,
        "installed_from": str(Path(path).resolve()),
        "config": cfg.model_dump(mode="json"),
    }
    store.write_bytes(CURRENT_KEY, json.dumps(info, indent=2).encode())
    log.info("installed tokenizer %s from %s", version, path)
    return TokenizerInfo(version, key, False, "", 0, [], None)


def tokenizer_stage(
    store: Storage,
    cfg: TokenizerConfig,
    *,
    checkpoint: str | Path | None = None,
    force: bool = False,
    max_time_s: float | None = None,
    device: str | torch.device = "auto",
    retrain: RetrainPolicy = "new_stations",
    progress: Progress = no_progress,
) -> StageSummary:
    """The ``tokenizer`` stage: install ``checkpoint`` as the current tokenizer, or train (or
    reuse) one on every stored track file of the store, on ``device`` (resolved once here).
    ``progress`` gets ("tokenizer", epochs done, max_epochs) when training starts and after
    every epoch (an early stop ends below max_epochs), or ("tokenizer", 1, 1) once for a
    reused or installed checkpoint."""
    dev = run_device(device)

    def on_epoch(row: dict[str, float]) -> None:
        progress("tokenizer", int(row["epoch"]) + 1, int(row["max_epochs"]))

    if checkpoint is not None:
        info = install_checkpoint(store, checkpoint)
    else:
        info = train_or_reuse(
            store, cfg, force=force, max_time_s=max_time_s, device=dev, retrain=retrain,
            on_epoch=on_epoch, on_train_start=lambda epochs: progress("tokenizer", 0, epochs),
        )  # fmt: skip
    check_windows(cached_runner(store, device=dev), cfg)
    if not info.trained:
        progress("tokenizer", 1, 1)
    last = info.history[-1] if info.history else {}
    pointer = current_tokenizer(store) or {}
    return StageSummary(
        keys={"checkpoint": info.checkpoint_key},
        extra={
            "tokenizer_version": info.version,
            "trained": info.trained,
            "installed": checkpoint is not None,
            "training_videos": info.num_videos,
            "final_train_loss": float(last.get("train_loss", float("nan"))),
            "final_val_loss": float(last.get("val_loss", float("nan"))),
            "history": info.history,
            "loss_plot_key": info.loss_plot_key,
            "device": device_name(dev),
            "retrain_decision": info.decision,
            "train_steps": int(pointer.get("steps", 0)),
            "train_windows_per_s": float(pointer.get("windows_per_s", float("nan"))),
            "stopped_early": bool(pointer.get("stopped_early", False)),
        },
        output=info,
    )


def codes_stage(
    store: Storage,
    date: str,
    station: str,
    cfg: TokenizerConfig,
    *,
    batch_size: int = 256,
    device: str | torch.device = "auto",
    progress: Progress = no_progress,
) -> StageSummary:
    """The ``codes`` stage: encode every window of the partition with the current tokenizer on
    ``device`` (resolved once here)."""
    dev = run_device(device)
    current = current_tokenizer(store)
    # a checkpoint the store trained must match the config exactly (strict loading: a changed
    # config is refused, never silently mixed); one the user installed (`laps segment
    # --checkpoint`) brings its own model config and must only read the same windows
    installed = current is not None and "installed_from" in current
    runner = cached_runner(
        store, expected=None if installed else cfg, batch_size=batch_size, device=dev
    )
    check_windows(runner, cfg)
    progress("codes", 0, 1)
    rows = codes_partition(store, date, station, runner)
    progress("codes", 1, 1)
    flat = np.concatenate([r["codes"] for r in rows]) if rows else np.zeros(0, np.int16)
    size = runner.config.codebook_size
    return StageSummary(
        rows={"codes": len(rows)},
        extra={
            "tokenizer_version": runner.tokenizer_version,
            "codebook_size": size,
            "distinct_codes": int(len(np.unique(flat))),
            "codes_in_range": bool(flat.size == 0 or (flat.min() >= 0 and flat.max() < size)),
            "device": runner.device_name,
        },
        output=rows,
    )
