"""Export the segments as a LeRobot v3.0 dataset: ``export_lerobot``.

One episode per segment that has a clip, in the order (date, station, video file name,
video_id, start_frame); one LeRobot frame per latent-action step, so the dataset's ``fps`` is the
segments' ``target_fps`` (10 Hz) and ``action.latent`` of frame ``k`` is the code of the
segment's step ``k``. The steps are the segmentation stage's (``pipeline.segments.stage.
_segment_rows``): the target-rate steps ``s`` of the video whose source frame
``source_index(s)`` lies in ``[start_frame, end_frame)`` and that a window covers (code >= 0),
rebuilt from the partition's ``windows`` and ``codes`` tables and checked against the segment's
``codes`` (a mismatch means stale segments: refused). Frame ``k``'s image is clip frame
``source_index(s_k) - start_frame``, resized to one common size.

Layout written under ``out_dir`` (what lerobot 0.4.4's ``LeRobotDataset(repo_id, root=out_dir)``
reads; CONVENTIONS.md "LeRobot v3")::

    meta/info.json            codebase_version "v3.0", fps, totals, chunks_size, paths, features
                              (every feature with dtype/shape/names), plus a "laps" provenance
                              block (tokenizer, codebook, partitions, the timestamp rule)
    meta/stats.json           min/max/mean/std/count/q01/q10/q50/q90/q99 per feature (the image
                              per channel in [0, 1], shape (3, 1, 1), exact from histograms)
    meta/tasks.parquet        one task; pandas index = task string, column task_index
    meta/episodes/chunk-CCC/file-FFF.parquet
                              one row per episode of that file: episode_index, tasks, length,
                              dataset_from_index/_to_index, data/..., videos/<key>/chunk_index,
                              file_index, from_timestamp, to_timestamp, meta/episodes/..., and
                              laps/* (segment_id, video_id, date, station, file_name,
                              start_frame, end_frame, source_fps, source_frames)
    data/chunk-CCC/file-FFF.parquet
                              one row per frame, sorted by the global contiguous ``index``:
                              action.latent (int64; shape [1] = a plain column), timestamp
                              (float32), frame_index, episode_index, index, task_index
    videos/observation.images.cam/chunk-CCC/file-FFF.mp4
                              the file's episodes back to back: H.264 yuv420p, constant fps =
                              dataset fps, keyframe every ``gop`` frames, pts = the frame's
                              position in the file at time base 1/fps

Episodes fill a file until it holds ``episodes_per_file`` episodes or ``max_file_seconds`` of
video; then the next file starts. LeRobot's ``chunks_size`` counts FILES per chunk folder: file
number ``n`` is ``chunk-{n // chunks_size}/file-{n % chunks_size}`` (its
``update_chunk_file_indices``). Data, video and episode metadata of a file share its indexes.

Timestamp rule: every time is an integer frame count over the integer fps, computed in float64:
``timestamp = float32(frame_index / fps)`` (episode-relative), ``from_timestamp = (frames of the
file before the episode) / fps`` and ``to_timestamp = (those + length) / fps`` (file-relative).
LeRobot looks a frame up at ``from_timestamp + timestamp`` and compares it with the decoded pts
in float32 with a 1e-4 s tolerance; float32 resolves 6.1e-5 s below 1024 s, so files are kept
under ``max_file_seconds`` (default 1000 s).

The export is built in a temporary sibling folder (``.tmp-<name>-*``: the store's temp prefix, so
an export into a local store is never listed half-written) and renamed into place, so a rerun
replaces it whole; a folder that is not empty and not an earlier export of this module is never
replaced.

Segments without a clip, whose clip is missing from the store, or without any covered step are
skipped and counted (logged and in the summary). Unusable inputs (mixed target rates or
tokenizers, stale segments, a short clip) raise ``ExportError``.
"""

from __future__ import annotations

import json
import logging
import math
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import ExportError, SegmentationError
from pipeline.io.keys import LEROBOT_DIR, PUBLISH_ROOT
from pipeline.io.storage import TMP_PREFIX, LocalStorage, Storage
from pipeline.io.tables import list_partitions, read_partition
from pipeline.segments.stage import load_signals

log = logging.getLogger(__name__)

CODEBASE_VERSION = "v3.0"
EXPORT_SCHEMA_VERSION = 1
VIDEO_KEY = "observation.images.cam"
LATENT_KEY = "action.latent"
DEFAULT_TASK = "assembly work"
CHUNKS_SIZE = 1000  # files per chunk folder (LeRobot's DEFAULT_CHUNK_SIZE)
EPISODES_PER_FILE = 1000
MAX_FILE_SECONDS = 1000.0  # < 1024 s: float32 times stay within LeRobot's 1e-4 s tolerance
FLOAT32_SAFE_SECONDS = 1024.0
GOP = 10  # keyframe interval (frames): a random access decodes at most GOP frames
CRF = 20
QUANTILES = (0.01, 0.10, 0.50, 0.90, 0.99)
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"

DATA_SCHEMA = pa.schema(
    [
        pa.field(LATENT_KEY, pa.int64()),
        pa.field("timestamp", pa.float32()),
        pa.field("frame_index", pa.int64()),
        pa.field("episode_index", pa.int64()),
        pa.field("index", pa.int64()),
        pa.field("task_index", pa.int64()),
    ]
)
_V = f"videos/{VIDEO_KEY}"
EPISODES_SCHEMA = pa.schema(
    [
        ("episode_index", pa.int64()),
        ("tasks", pa.list_(pa.string())),
        ("length", pa.int64()),
        ("data/chunk_index", pa.int64()),
        ("data/file_index", pa.int64()),
        ("dataset_from_index", pa.int64()),
        ("dataset_to_index", pa.int64()),
        (f"{_V}/chunk_index", pa.int64()),
        (f"{_V}/file_index", pa.int64()),
        (f"{_V}/from_timestamp", pa.float64()),
        (f"{_V}/to_timestamp", pa.float64()),
        ("meta/episodes/chunk_index", pa.int64()),
        ("meta/episodes/file_index", pa.int64()),
        ("laps/segment_id", pa.string()),
        ("laps/video_id", pa.string()),
        ("laps/date", pa.string()),
        ("laps/station", pa.string()),
        ("laps/file_name", pa.string()),
        ("laps/start_frame", pa.int64()),
        ("laps/end_frame", pa.int64()),
        ("laps/source_fps", pa.float64()),
        ("laps/source_frames", pa.list_(pa.int64())),
    ]
)


@dataclass(frozen=True)
class EpisodeSource:
    """One segment to export: its clip and the source frame and code of each of its steps."""

    date: str
    station: str
    file_name: str
    video_id: str
    segment_id: str
    start_frame: int
    end_frame: int
    clip_key: str
    source_fps: float
    target_fps: float
    tokenizer_version: str
    codebook_size: int
    fsq_levels: tuple[int, ...]
    source_frames: tuple[int, ...]  # one per step, strictly increasing, in [start, end)
    codes: tuple[int, ...]  # one per step: the segment's ``codes``

    @property
    def length(self) -> int:
        return len(self.codes)

    @property
    def clip_frames(self) -> list[int]:
        """Clip frame of each step (clip frame ``i`` is source frame ``start_frame + i``)."""
        return [f - self.start_frame for f in self.source_frames]

    @property
    def sort_key(self) -> tuple[str, str, str, str, int]:
        return (self.date, self.station, self.file_name, self.video_id, self.start_frame)


def default_out_dir(store: Storage, data_root: str | Path) -> Path:
    """Where the CLI and the asset export: ``<store>/publish/lerobot`` for a local store (the
    key ``pipeline.io.keys`` reserves), else ``<data_root>/lerobot`` (LeRobot reads a local
    folder; the export of an S3 store stays local)."""
    if isinstance(store, LocalStorage):
        return Path(store.uri(f"{PUBLISH_ROOT}/{LEROBOT_DIR}"))
    return Path(data_root) / LEROBOT_DIR


def plan_episodes(
    store: Storage, partitions: Sequence[tuple[str, str]] | None = None
) -> tuple[list[EpisodeSource], dict[str, int]]:
    """The episodes of ``partitions`` (default: every partition of the segments table), in
    export order, and how many segments were skipped per reason."""
    parts = (
        sorted(set(partitions)) if partitions is not None else list_partitions(store, "segments")
    )
    skipped = {"no_clip": 0, "missing_clip": 0, "no_steps": 0}
    episodes: list[EpisodeSource] = []
    for date, station in parts:
        segments = read_partition(store, "segments", date, station)
        if segments is None:
            raise ExportError(f"{date}/{station}: no segments table; run the segments stage")
        try:
            videos, signals, tok = load_signals(store, date, station)
        except SegmentationError as exc:
            raise ExportError(f"{date}/{station}: cannot rebuild the steps: {exc}") from exc
        names = {v["video_id"]: v["file_name"] for v in videos}
        timelines: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        for row in segments.to_pylist():
            sid, vid = row["segment_id"], row["video_id"]
            if row["clip_key"] is None:
                skipped["no_clip"] += 1
                continue
            if vid not in signals:
                raise ExportError(f"{date}/{station}: segment {sid} of unknown video {vid}")
            if row["tokenizer_version"] != tok["tokenizer_version"]:
                raise ExportError(
                    f"{date}/{station}: segment {sid} has tokenizer {row['tokenizer_version']}, "
                    f"the codes table {tok['tokenizer_version']}; rerun segments"
                )
            if vid not in timelines:
                timelines[vid] = (signals[vid].step_frames(), signals[vid].step_codes())
            frames, codes = timelines[vid]
            start, end = int(row["start_frame"]), int(row["end_frame"])
            steps = np.flatnonzero((frames >= start) & (frames < end) & (codes >= 0))
            step_codes = [int(c) for c in codes[steps]]
            if step_codes != [int(c) for c in row["codes"]]:
                raise ExportError(
                    f"{date}/{station}: segment {sid}: the codes table gives {step_codes[:8]}... "
                    f"but the segment holds {list(row['codes'])[:8]}...; rerun segments"
                )
            if steps.size == 0:
                skipped["no_steps"] += 1
                continue
            if not store.exists(row["clip_key"]):
                log.warning(
                    "%s/%s: clip %s of segment %s is missing", date, station, row["clip_key"], sid
                )
                skipped["missing_clip"] += 1
                continue
            episodes.append(
                EpisodeSource(
                    date=date,
                    station=station,
                    file_name=names[vid],
                    video_id=vid,
                    segment_id=sid,
                    start_frame=start,
                    end_frame=end,
                    clip_key=row["clip_key"],
                    source_fps=float(row["fps"]),
                    target_fps=float(row["target_fps"]),
                    tokenizer_version=row["tokenizer_version"],
                    codebook_size=int(row["codebook_size"]),
                    fsq_levels=tuple(int(v) for v in row["fsq_levels"]),
                    source_frames=tuple(int(f) for f in frames[steps]),
                    codes=tuple(step_codes),
                )
            )
    for reason, n in skipped.items():
        if n:
            log.warning("skipped %d segments: %s", n, reason)
    episodes.sort(key=lambda e: e.sort_key)
    return episodes, skipped


def export_lerobot(
    store: Storage,
    out_dir: str | Path,
    *,
    partitions: Sequence[tuple[str, str]] | None = None,
    size: tuple[int, int] | None = None,
    task: str = DEFAULT_TASK,
    episodes_per_file: int = EPISODES_PER_FILE,
    max_file_seconds: float = MAX_FILE_SECONDS,
    chunks_size: int = CHUNKS_SIZE,
    crf: int = CRF,
    gop: int = GOP,
) -> dict[str, Any]:
    """Write the LeRobot v3.0 export of ``partitions`` (default all) to the local folder
    ``out_dir``, replacing an earlier export there (module doc). ``size`` = (w, h), even; default
    the first episode's clip size. Returns a summary: ``episodes``, ``frames``, ``out``,
    ``seconds``, ``fps``, ``size``, ``files``, ``skipped``, ``partitions``."""
    t0 = time.monotonic()
    out = Path(out_dir).absolute()
    if episodes_per_file < 1 or chunks_size < 1 or max_file_seconds <= 0 or gop < 1:
        raise ExportError("episodes_per_file, chunks_size, gop must be >= 1, max_file_seconds > 0")
    if max_file_seconds >= FLOAT32_SAFE_SECONDS:
        log.warning(
            "max_file_seconds %.0f >= %.0f: LeRobot's float32 timestamp check may fail "
            "late in a file",
            max_file_seconds,
            FLOAT32_SAFE_SECONDS,
        )
    _check_replaceable(out)
    episodes, skipped = plan_episodes(store, partitions)
    if not episodes:
        raise ExportError(f"nothing to export: no segment with a clip and steps ({skipped})")
    fps = _dataset_fps(episodes)
    tokenizers = sorted({(e.tokenizer_version, e.codebook_size, e.fsq_levels) for e in episodes})
    if len(tokenizers) != 1:
        raise ExportError(f"segments of {len(tokenizers)} tokenizers {tokenizers}; export one")
    width, height = _check_size(size) if size is not None else _clip_size(store, episodes[0])

    out.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_siblings(out)
    tmp = Path(tempfile.mkdtemp(prefix=f"{TMP_PREFIX}{out.name}-", dir=out.parent))
    writer: _Writer | None = None
    try:
        writer = _Writer(
            tmp, fps=fps, size=(width, height), task=task, crf=crf, gop=gop, chunks_size=chunks_size
        )
        max_frames = max(1, int(math.floor(max_file_seconds * fps)))
        for ep in episodes:
            if ep.length > max_frames:
                log.warning(
                    "segment %s: %d frames exceed max_file_seconds on its own",
                    ep.segment_id,
                    ep.length,
                )
            if writer.file_episodes and (
                writer.file_episodes >= episodes_per_file
                or writer.file_frames + ep.length > max_frames
            ):
                writer.close_file()
            writer.add_episode(ep, _clip_frames(store, ep, (width, height)))
        writer.close_file()
        tok_version, codebook_size, levels = tokenizers[0]
        provenance = {
            "exporter": __name__,
            "schema_version": EXPORT_SCHEMA_VERSION,
            "tokenizer_version": tok_version,
            "codebook_size": codebook_size,
            "fsq_levels": list(levels),
            "source_fps": sorted({e.source_fps for e in episodes}),
            "partitions": sorted({f"{e.date}/{e.station}" for e in episodes}),
            "skipped_segments": skipped,
            "timestamp_rule": "timestamp = frame_index / fps; from_timestamp = frames of the "
            "file before the episode / fps; integers over the integer fps",
            "frame_rule": "frame k = clip frame source_index(step_k) - start_frame",
        }
        writer.finish(provenance)
        _swap_into_place(tmp, out)
    except BaseException:
        if writer is not None:
            writer.abort()
        shutil.rmtree(tmp, ignore_errors=True)  # best effort; the original error propagates
        raise
    summary = {
        "out": str(out),
        "episodes": len(episodes),
        "frames": writer.total_frames,
        "fps": fps,
        "size": [width, height],
        "files": writer.files_written,
        "skipped": skipped,
        "partitions": sorted({(e.date, e.station) for e in episodes}),
        "seconds": round(time.monotonic() - t0, 3),
    }
    log.info(
        "LeRobot export %s: %d episodes, %d frames, %d files in %.1f s",
        out,
        len(episodes),
        writer.total_frames,
        writer.files_written,
        summary["seconds"],
    )
    return summary


def _dataset_fps(episodes: Sequence[EpisodeSource]) -> int:
    rates = sorted({e.target_fps for e in episodes})
    if len(rates) != 1:
        raise ExportError(f"segments of mixed target rates {rates}: export one rate at a time")
    if not float(rates[0]).is_integer() or rates[0] <= 0:
        raise ExportError(f"target_fps {rates[0]} is not a positive integer (LeRobot's fps)")
    return int(rates[0])


def _check_size(size: tuple[int, int]) -> tuple[int, int]:
    w, h = (int(v) for v in size)
    if w < 2 or h < 2 or w % 2 or h % 2:
        raise ExportError(f"size must be even (w, h) >= 2 (H.264 yuv420p), got {size}")
    return w, h


def _clip_size(store: Storage, ep: EpisodeSource) -> tuple[int, int]:
    with store.local_path(ep.clip_key) as path, av.open(str(path)) as container:
        ctx = container.streams.video[0].codec_context
        w, h = int(ctx.width), int(ctx.height)
    return max(2, w - w % 2), max(2, h - h % 2)


def _clip_frames(store: Storage, ep: EpisodeSource, size: tuple[int, int]) -> Iterator[np.ndarray]:
    """RGB uint8 (h, w, 3) frames of the episode, in step order, from one pass over its clip."""
    wanted = ep.clip_frames
    w, h = size
    with store.local_path(ep.clip_key) as path, av.open(str(path)) as container:
        stream = container.streams.video[0]
        pos, decoded = 0, 0
        for frame in container.decode(stream):
            if pos == len(wanted):
                break
            if decoded == wanted[pos]:
                same = frame.width == w and frame.height == h
                img = frame.reformat(
                    width=w, height=h, format="rgb24", interpolation=None if same else "AREA"
                )
                yield img.to_ndarray()
                pos += 1
            decoded += 1
        if pos < len(wanted):
            raise ExportError(
                f"clip {ep.clip_key} ended after {decoded} frames; segment {ep.segment_id} needs "
                f"frame {wanted[pos]} (its clip must hold source frames "
                f"[{ep.start_frame}, {ep.end_frame}))"
            )


@dataclass
class _Stats:
    """Running per-feature values for meta/stats.json (exact image stats from histograms)."""

    hist: np.ndarray = field(default_factory=lambda: np.zeros(3 * 256, np.int64))
    columns: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add_image(self, img: np.ndarray) -> None:
        planes = img.reshape(-1, 3).astype(np.int64) + np.array([0, 256, 512])
        self.hist += np.bincount(planes.ravel(), minlength=768)

    def add_column(self, name: str, values: np.ndarray) -> None:
        self.columns.setdefault(name, []).append(values)

    def image_stats(self, frames: int) -> dict[str, Any]:
        hist = self.hist.reshape(3, 256).astype(np.float64)
        levels = np.arange(256) / 255.0
        n = hist.sum(axis=1)
        mean = hist @ levels / n
        std = np.sqrt(np.maximum(hist @ levels**2 / n - mean**2, 0.0))
        cum = np.cumsum(hist, axis=1) / n[:, None]
        nz = hist > 0
        per_channel = {
            "min": levels[nz.argmax(axis=1)],
            "max": levels[255 - nz[:, ::-1].argmax(axis=1)],
            "mean": mean,
            "std": std,
            **{f"q{round(q * 100):02d}": levels[(cum >= q).argmax(axis=1)] for q in QUANTILES},
        }
        out: dict[str, Any] = {k: [[[float(x)]] for x in v] for k, v in per_channel.items()}
        out["count"] = [frames]
        return out

    def column_stats(self, name: str) -> dict[str, Any]:
        arr = np.concatenate(self.columns[name])
        as_float = arr.astype(np.float64)
        native = (lambda x: int(x)) if arr.dtype.kind == "i" else (lambda x: float(x))
        return {
            "min": [native(arr.min())],
            "max": [native(arr.max())],
            "mean": [float(as_float.mean())],
            "std": [float(as_float.std())],
            "count": [int(arr.size)],
            **{f"q{round(q * 100):02d}": [float(np.quantile(as_float, q))] for q in QUANTILES},
        }


class _Writer:
    """Writes episodes into rotating (chunk, file) groups of data, video and episode metadata."""

    def __init__(
        self,
        root: Path,
        *,
        fps: int,
        size: tuple[int, int],
        task: str,
        crf: int,
        gop: int,
        chunks_size: int,
    ) -> None:
        self.root, self.fps, self.size, self.task = root, fps, size, task
        self.crf, self.gop, self.chunks_size = crf, gop, chunks_size
        self.files_written = 0
        self.total_frames = 0
        self.total_episodes = 0
        self.stats = _Stats()
        self._container: Any = None
        self._stream: Any = None
        self.file_frames = 0
        self.file_episodes = 0
        self._data: dict[str, list[Any]] = {}
        self._episodes: list[dict[str, Any]] = []

    @property
    def _indexes(self) -> dict[str, int]:
        chunk, file = divmod(self.files_written, self.chunks_size)
        return {"chunk_index": chunk, "file_index": file}

    def _open_file(self) -> None:
        path = self.root / VIDEO_PATH.format(video_key=VIDEO_KEY, **self._indexes)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._container = av.open(str(path), mode="w")
        stream = self._container.add_stream("libx264", rate=self.fps)
        stream.width, stream.height = self.size
        stream.pix_fmt = "yuv420p"
        stream.codec_context.time_base = Fraction(1, self.fps)
        # mbtree off: this libx264 build is otherwise not bit-reproducible (pipeline.io.video)
        stream.options = {
            "crf": str(self.crf),
            "preset": "veryfast",
            "g": str(self.gop),
            "x264-params": "mbtree=0",
        }
        self._stream = stream
        self._data = {name: [] for name in DATA_SCHEMA.names}
        self._episodes = []

    def add_episode(self, ep: EpisodeSource, frames: Iterator[np.ndarray]) -> None:
        if self._container is None:
            self._open_file()
        first_in_file = self.file_frames
        n = 0
        for img in frames:
            if img.shape != (self.size[1], self.size[0], 3):
                raise ExportError(f"segment {ep.segment_id}: frame of shape {img.shape}")
            vf = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            vf.pts = self.file_frames
            vf.time_base = Fraction(1, self.fps)
            for packet in self._stream.encode(vf):
                self._container.mux(packet)
            self.stats.add_image(img)
            self.file_frames += 1
            n += 1
        if n != ep.length:  # the frames line up with the codes one to one
            raise ExportError(f"segment {ep.segment_id}: {n} frames for {ep.length} codes")
        ep_index, start = self.total_episodes, self.total_frames
        frame_index = np.arange(n, dtype=np.int64)
        columns: dict[str, np.ndarray] = {
            LATENT_KEY: np.asarray(ep.codes, np.int64),
            "timestamp": (frame_index / self.fps).astype(np.float32),
            "frame_index": frame_index,
            "episode_index": np.full(n, ep_index, np.int64),
            "index": start + frame_index,
            "task_index": np.zeros(n, np.int64),
        }
        for name, values in columns.items():
            self._data[name].append(values)
            self.stats.add_column(name, values)
        idx = self._indexes
        self._episodes.append(
            {
                "episode_index": ep_index,
                "tasks": [self.task],
                "length": n,
                "data/chunk_index": idx["chunk_index"],
                "data/file_index": idx["file_index"],
                "dataset_from_index": start,
                "dataset_to_index": start + n,
                f"{_V}/chunk_index": idx["chunk_index"],
                f"{_V}/file_index": idx["file_index"],
                f"{_V}/from_timestamp": first_in_file / self.fps,
                f"{_V}/to_timestamp": (first_in_file + n) / self.fps,
                "meta/episodes/chunk_index": idx["chunk_index"],
                "meta/episodes/file_index": idx["file_index"],
                "laps/segment_id": ep.segment_id,
                "laps/video_id": ep.video_id,
                "laps/date": ep.date,
                "laps/station": ep.station,
                "laps/file_name": ep.file_name,
                "laps/start_frame": ep.start_frame,
                "laps/end_frame": ep.end_frame,
                "laps/source_fps": ep.source_fps,
                "laps/source_frames": list(ep.source_frames),
            }
        )
        self.total_episodes += 1
        self.total_frames += n
        self.file_episodes += 1

    def close_file(self) -> None:
        """Finish the current (chunk, file): flush the video, write its data and episodes."""
        if self._container is None:
            return
        for packet in self._stream.encode():
            self._container.mux(packet)
        self._container.close()
        self._container = self._stream = None
        idx = self._indexes
        data = pa.table(
            {name: pa.array(np.concatenate(self._data[name])) for name in DATA_SCHEMA.names},
            schema=DATA_SCHEMA,
        )
        episodes = pa.Table.from_pylist(self._episodes, schema=EPISODES_SCHEMA)
        for template, table in ((DATA_PATH, data), (EPISODES_PATH, episodes)):
            path = self.root / template.format(**idx)
            path.parent.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, path)
        self.files_written += 1
        self.file_frames = self.file_episodes = 0

    def abort(self) -> None:
        """Close an open video file without finishing it (the export is being discarded)."""
        if self._container is not None:
            self._container.close()
            self._container = self._stream = None

    def finish(self, provenance: dict[str, Any]) -> None:
        """Write tasks.parquet, stats.json and info.json (last)."""
        meta = self.root / "meta"
        _write_tasks(meta / "tasks.parquet", [self.task])
        stats = {VIDEO_KEY: self.stats.image_stats(self.total_frames)}
        stats |= {name: self.stats.column_stats(name) for name in DATA_SCHEMA.names}
        (meta / "stats.json").write_text(json.dumps(stats, indent=2) + "\n")
        w, h = self.size
        scalar = {"shape": [1], "names": None}
        features = {
            VIDEO_KEY: {
                "dtype": "video",
                "shape": [h, w, 3],
                "names": ["height", "width", "channels"],
                "info": {
                    "video.height": h,
                    "video.width": w,
                    "video.codec": "h264",
                    "video.pix_fmt": "yuv420p",
                    "video.is_depth_map": False,
                    "video.fps": self.fps,
                    "video.channels": 3,
                    "has_audio": False,
                },
            },
            LATENT_KEY: {"dtype": "int64", "shape": [1], "names": ["code"]},
            "timestamp": {"dtype": "float32", **scalar},
            "frame_index": {"dtype": "int64", **scalar},
            "episode_index": {"dtype": "int64", **scalar},
            "index": {"dtype": "int64", **scalar},
            "task_index": {"dtype": "int64", **scalar},
        }
        info = {
            "codebase_version": CODEBASE_VERSION,
            "robot_type": None,
            "total_episodes": self.total_episodes,
            "total_frames": self.total_frames,
            "total_tasks": 1,
            "chunks_size": self.chunks_size,
            "data_files_size_in_mb": 100,
            "video_files_size_in_mb": 200,
            "fps": self.fps,
            "splits": {"train": f"0:{self.total_episodes}"},
            "data_path": DATA_PATH,
            "video_path": VIDEO_PATH,
            "features": features,
            "laps": provenance,
        }
        (meta / "info.json").write_text(json.dumps(info, indent=2) + "\n")


def _write_tasks(path: Path, tasks: Sequence[str]) -> None:
    """tasks.parquet as pandas writes it: the task string is the (named) index."""
    table = pa.table(
        {
            "task_index": pa.array(range(len(tasks)), pa.int64()),
            "task": pa.array(list(tasks), pa.string()),
        }
    )
    columns = [("task_index", "int64", "int64"), ("task", "unicode", "object")]
    pandas_meta = {
        "index_columns": ["task"],
        "column_indexes": [],
        "columns": [
            {"name": n, "field_name": n, "pandas_type": p, "numpy_type": t, "metadata": None}
            for n, p, t in columns
        ],
        "creator": {"library": "pyarrow", "version": pa.__version__},
        "pandas_version": "2.2.0",
    }
    table = table.replace_schema_metadata({b"pandas": json.dumps(pandas_meta).encode()})
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path)


def _is_export(folder: Path) -> bool:
    info = folder / "meta" / "info.json"
    if not info.is_file():
        return False
    try:
        data = json.loads(info.read_text())
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable (%s)", info, exc)
        return False
    return isinstance(data, dict) and (data.get("laps") or {}).get("exporter") == __name__


def _check_replaceable(out: Path) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise ExportError(f"{out} exists and is not a folder")
    if any(out.iterdir()) and not _is_export(out):
        raise ExportError(f"refusing to replace {out}: not empty and not a laps LeRobot export")


def _remove_stale_siblings(out: Path) -> None:
    """Delete replaced exports left by a crash; report (never delete) unfinished temp folders,
    which may belong to an export still running."""
    for old in out.parent.glob(f"{TMP_PREFIX}{out.name}.old-*"):
        log.warning("removing %s (left by an interrupted export)", old)
        shutil.rmtree(old)
    for tmp in out.parent.glob(f"{TMP_PREFIX}{out.name}-*"):
        log.warning("%s: unfinished export folder (crashed or still running)", tmp)


def _swap_into_place(tmp: Path, out: Path) -> None:
    """Rename the finished export to ``out``; an earlier export there is moved aside first and
    deleted after (readers see the old export, then the new one)."""
    old = None
    if out.exists():
        old = out.with_name(f"{TMP_PREFIX}{out.name}.old-{uuid.uuid4().hex[:8]}")
        out.rename(old)
    try:
        tmp.rename(out)
    except OSError:
        if old is not None:
            old.rename(out)  # put the earlier export back
        raise
    if old is not None:
        shutil.rmtree(old)
