"""Baseline predictions scored by ``laps eval --baselines`` on the same data as the method.

From a store root written by ``laps segment`` (``tables/windows`` and ``tables/videos``), each
baseline writes ``<out_root>/<name>/<stem>.segments.json`` for every video:

- ``flow_energy``: ``windows.flow_magnitude`` (optical-flow energy),
- ``pixel_diff``: ``windows.pixel_diff`` (pixel-difference energy),
- ``track_speed``: ``windows.track_speed`` (raw point-track velocity energy),

each through ``pipeline.segments.energy_segmentation.calibrated_hysteresis`` with the method's
hysteresis settings (same EMA, same debounce and cap, same label-free calibration, one calibration
per
station). Pseudo-labels for calibration come from ``track_speed`` by default, as for the method
(``pseudo_source="self"`` uses each baseline's own energy). No ground truth is read by these.

- ``uniform_oracle_k``: **an oracle**: a uniform split into the TRUE number of segments, read
  from the ground-truth file (``pipeline.evaluation.harness.write_uniform_baseline``). It sees
  labels; it is a reference point, not a label-free method.
- ``kernel_cpd_oracle_k``: **an oracle** too: kernel change points (ruptures ``KernelCPD``, rbf)
  on the per-step track features, asked for the TRUE number of segments
  (``pipeline.evaluation.kernel_oracle``).

Stems: ``videos.file_name`` without its suffix (``cam1_0001.mp4`` -> ``cam1_0001``) must equal
the ground truth's stem. Windows are keyed by ``window_index``; gated windows count as idle.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pyarrow as pa
from pydantic import ValidationError

from pipeline.errors import (
    BaselineError,
    CalibrationError,
    EnergySegmentationError,
    SegmentFileError,
)
from pipeline.evaluation.harness import write_uniform_baseline
from pipeline.evaluation.kernel_oracle import KERNEL_ORACLE, write_kernel_oracle
from pipeline.io.keys import store_video_stems
from pipeline.io.storage import open_storage
from pipeline.io.tables import read_table
from pipeline.segments.calibration import PseudoMethod, Transform
from pipeline.segments.energy import EnergySeries
from pipeline.segments.energy_segmentation import DEFAULT_PARAMS, EnergyRun, calibrated_hysteresis
from pipeline.segments.segfile import SEGMENT_SUFFIX, read_segments, write_segments
from pipeline.segments.segmenters import HysteresisParams

log = logging.getLogger(__name__)

ENERGY_BASELINES: dict[str, str] = {
    "flow_energy": "flow_magnitude",
    "pixel_diff": "pixel_diff",
    "track_speed": "track_speed",
}
UNIFORM_ORACLE = "uniform_oracle_k"
BASELINE_NAMES: tuple[str, ...] = (*ENERGY_BASELINES, UNIFORM_ORACLE, KERNEL_ORACLE)
# what makes one baseline unusable without stopping the others
BASELINE_FAILURES = (BaselineError, CalibrationError, EnergySegmentationError, SegmentFileError)
PseudoSource = Literal["track_speed", "self"]


@dataclass(frozen=True)
class StoreVideo:
    """One video's windows from the store, sorted by ``window_index``."""

    stem: str
    video_id: str
    file_name: str
    station: str
    fps: float
    duration_sec: float
    window_index: np.ndarray  # (W,) int64
    start_sec: np.ndarray  # (W,)
    end_sec: np.ndarray  # (W,)
    gated: np.ndarray  # (W,) bool
    signals: dict[str, np.ndarray]  # column -> (W,) float64

    def series(self, column: str) -> EnergySeries:
        """``EnergySeries`` of one windows column (gated windows 0), named after the column."""
        return EnergySeries.from_windows(
            self.signals[column],
            window_index=self.window_index,
            start_sec=self.start_sec,
            end_sec=self.end_sec,
            gated=self.gated,
            name=column,
        )


def _columns(table: pa.Table, names: Sequence[str]) -> dict[str, np.ndarray]:
    """Columns as numpy arrays (strings as object arrays); ``BaselineError`` if any is missing."""
    missing = [n for n in names if n not in table.column_names]
    if missing:
        raise BaselineError(f"table lacks columns {missing}")
    return {n: table.column(n).to_numpy(zero_copy_only=False) for n in names}


def load_store_videos(store_root: str | Path) -> dict[str, StoreVideo]:
    """Every video of the store's ``videos`` table with its windows, keyed by stem (sorted)."""
    storage = open_storage(str(store_root))
    videos = read_table(storage, "videos")
    windows = read_table(storage, "windows")
    if videos is None or windows is None:
        raise BaselineError(f"{store_root}: needs tables/videos and tables/windows")
    meta = _columns(videos, ["video_id", "file_name", "fps", "duration_sec", "station", "date"])
    by_id: dict[str, tuple[str, str, float, float, str]] = {}
    stems: dict[str, str] = {}
    partition_stems = store_video_stems(
        videos.select(["video_id", "file_name", "date", "station"]).to_pylist()
    )
    for vid, fname, fps, dur, station, _date in zip(*meta.values(), strict=True):
        stem = partition_stems[vid]  # the segment files' names (pipeline.io.keys)
        if stems.get(stem, vid) != vid:
            raise BaselineError(f"stem {stem!r} names two videos: {stems[stem]}, {vid}")
        stems[stem] = vid
        by_id.setdefault(vid, (stem, fname, float(fps), float(dur), station))
    return {v.stem: v for v in sorted(_group_windows(windows, by_id), key=lambda v: v.stem)}


def _group_windows(
    windows: pa.Table, by_id: Mapping[str, tuple[str, str, float, float, str]]
) -> list[StoreVideo]:
    cols = ["video_id", "window_index", "start_sec", "end_sec", "gated"]
    data = _columns(windows, cols + list(ENERGY_BASELINES.values()))
    ids = np.asarray(data["video_id"], dtype=object)
    unknown = sorted(set(ids.tolist()) - set(by_id))
    if unknown:
        log.warning("%d windows' video_ids absent from the videos table: %s", len(unknown), unknown)
    floats = {
        c: data[c].astype(np.float64) for c in ["start_sec", "end_sec", *ENERGY_BASELINES.values()]
    }
    all_idx = data["window_index"].astype(np.int64)
    all_gated = data["gated"].astype(bool)
    out = []
    for vid, (stem, fname, fps, dur, station) in by_id.items():
        rows = np.flatnonzero(ids == vid)
        rows = rows[np.argsort(all_idx[rows], kind="stable")]
        idx = all_idx[rows]
        if idx.size and np.any(np.diff(idx) == 0):
            dup = int(idx[np.flatnonzero(np.diff(idx) == 0)[0]])
            raise BaselineError(f"{stem}: window_index {dup} appears twice in the windows table")
        if idx.size == 0:
            log.warning("%s: no windows in the store; its baselines are all idle", stem)
        out.append(
            StoreVideo(
                stem=stem,
                video_id=vid,
                file_name=fname,
                station=station,
                fps=fps,
                duration_sec=dur,
                window_index=idx,
                start_sec=floats["start_sec"][rows],
                end_sec=floats["end_sec"][rows],
                gated=all_gated[rows],
                signals={c: floats[c][rows] for c in ENERGY_BASELINES.values()},
            )
        )
    return out


def energy_runs(
    videos: Mapping[str, StoreVideo],
    column: str,
    *,
    params: HysteresisParams | None = None,
    calibration_method: PseudoMethod = "otsu",
    transform: Transform = "none",
    pseudo_source: PseudoSource = "track_speed",
) -> dict[str, EnergyRun]:
    """``calibrated_hysteresis`` of one windows column, one call per station (sorted)."""
    stations = sorted({v.station for v in videos.values()})
    runs: dict[str, EnergyRun] = {}
    for station in stations:
        group = {k: v for k, v in sorted(videos.items()) if v.station == station}
        speeds = None
        if pseudo_source == "track_speed":
            speeds = {k: v.signals["track_speed"] for k, v in group.items()}
        runs[station] = calibrated_hysteresis(
            {k: v.series(column) for k, v in group.items()},
            {k: v.duration_sec for k, v in group.items()},
            params=params,
            calibration_method=calibration_method,
            transform=transform,
            speeds=speeds,
            gated={k: v.gated for k, v in group.items()},
        )
    return runs


def write_energy_baseline(
    videos: Mapping[str, StoreVideo],
    name: str,
    out_dir: str | Path,
    **kwargs: Any,
) -> list[Path]:
    """Write one energy baseline (``ENERGY_BASELINES`` key) for every video into ``out_dir``."""
    if name not in ENERGY_BASELINES:
        raise BaselineError(f"unknown energy baseline {name!r}; known: {list(ENERGY_BASELINES)}")
    written: list[Path] = []
    for station, run in energy_runs(videos, ENERGY_BASELINES[name], **kwargs).items():
        meta = {"baseline": name, "station": station, "oracle": False, **run.segment_meta()}
        for stem, vrun in run.videos.items():
            v = videos[stem]
            segfile = vrun.to_segment_file(video=v.file_name, fps=v.fps, meta=meta)
            written.append(write_segments(Path(out_dir) / f"{stem}{SEGMENT_SUFFIX}", segfile))
    log.info("baseline %s: %d files in %s", name, len(written), out_dir)
    return written


def write_baselines(
    store_root: str | Path,
    gt_dir: str | Path,
    out_root: str | Path,
    *,
    names: Sequence[str] = BASELINE_NAMES,
    params: HysteresisParams | None = None,
    calibration_method: PseudoMethod = "otsu",
    transform: Transform = "none",
    pseudo_source: PseudoSource = "track_speed",
    failures: dict[str, str] | None = None,
) -> dict[str, Path]:
    """Write the named baselines into ``<out_root>/<name>/``; returns name -> folder.

    The energy baselines read ``store_root``'s tables; ``uniform_oracle_k`` reads only
    ``gt_dir`` (oracle); ``kernel_cpd_oracle_k`` reads both (oracle). Every folder is created
    even when it stays empty, and emptied of segment files of an earlier run first (a rerun
    never scores stale files). With a ``failures`` dict, a baseline that cannot run is recorded
    there (name -> reason) and the others still run; without one, its error is raised.
    """
    unknown = [n for n in names if n not in BASELINE_NAMES]
    if unknown:
        raise BaselineError(f"unknown baselines {unknown}; known: {list(BASELINE_NAMES)}")
    folders = {n: Path(out_root) / n for n in names}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob(f"*{SEGMENT_SUFFIX}"):
            old.unlink()
    videos: dict[str, StoreVideo] = {}
    if any(n in ENERGY_BASELINES for n in names):
        try:
            videos = load_store_videos(store_root)
        except BaselineError as exc:
            if failures is None:
                raise
            failures.update({n: str(exc) for n in names if n in ENERGY_BASELINES})
    for n in names:
        if failures is not None and n in failures:
            continue
        try:
            if n == UNIFORM_ORACLE:
                write_uniform_baseline(gt_dir, folders[n])
            elif n == KERNEL_ORACLE:
                write_kernel_oracle(store_root, gt_dir, folders[n])
            else:
                write_energy_baseline(
                    videos,
                    n,
                    folders[n],
                    params=params,
                    calibration_method=calibration_method,
                    transform=transform,
                    pseudo_source=pseudo_source,
                )
        except BASELINE_FAILURES as exc:
            if failures is None:
                raise
            failures[n] = str(exc)
    return folders


@dataclass(frozen=True)
class MethodSettings:
    """Hysteresis and calibration settings the method ran with (read from its predictions)."""

    params: HysteresisParams
    calibration_method: PseudoMethod = "otsu"
    transform: Transform = "none"
    source: str = "defaults"


def method_settings(pred_dir: str | Path) -> MethodSettings:
    """Settings recorded in the predictions' ``meta`` (``EnergyRun.segment_meta`` keys
    ``hysteresis`` and ``calibration``): from the first file (sorted) that has them, preferring
    one whose ``calibration`` names its method (a station whose calibration failed may not).
    Defaults (``DEFAULT_PARAMS``, Otsu, no transform) when no file has them. Files that disagree
    (apart from the per-station ``thr_on``) are logged."""
    found: MethodSettings | None = None
    found_explicit = False  # prefer a file that names its calibration method
    for path in sorted(Path(pred_dir).glob(f"*{SEGMENT_SUFFIX}")):
        try:
            meta = read_segments(path).meta
        except SegmentFileError as exc:
            log.warning("settings: skipping unreadable %s: %s", path.name, exc)
            continue
        if not isinstance(meta.get("hysteresis"), dict):
            continue
        here = _settings_of(meta, path.name)
        explicit = isinstance(meta.get("calibration"), dict) and "method" in meta["calibration"]
        if found is None or (not found_explicit and explicit):
            found, found_explicit = here, explicit
        elif _differs(found, here):
            log.warning("settings in %s differ from %s; keeping the first", path.name, found.source)
    if found is None:
        log.info("no hysteresis settings in %s predictions; baselines use defaults", pred_dir)
        return MethodSettings(params=DEFAULT_PARAMS)
    return found


def _settings_of(meta: Mapping[str, Any], source: str) -> MethodSettings:
    raw = meta.get("calibration")
    cal: Mapping[str, Any] = raw if isinstance(raw, dict) else {}
    method, transform = cal.get("method", "otsu"), cal.get("transform", "none")
    if method not in ("otsu", "gmm") or transform not in ("none", "log"):
        raise BaselineError(f"{source}: unknown calibration {method!r} / {transform!r}")
    # thr_on is per station and recalibrated anyway; it may be null/inf where calibration failed
    raw_params = {**meta["hysteresis"], "thr_on": DEFAULT_PARAMS.thr_on}
    try:
        params = HysteresisParams.model_validate(raw_params)
    except ValidationError as exc:
        raise BaselineError(f"{source}: invalid meta.hysteresis: {exc}") from exc
    return MethodSettings(params, method, transform, source)


def _differs(a: MethodSettings, b: MethodSettings) -> bool:
    pa_, pb = a.params.model_dump(), b.params.model_dump()
    pa_.pop("thr_on")
    pb.pop("thr_on")
    return (pa_, a.calibration_method, a.transform) != (pb, b.calibration_method, b.transform)
