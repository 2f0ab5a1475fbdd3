"""LeRobot v3.0 files of an export: the layout constants, the Arrow schemas, one episode's
source record, and the writer that rotates (chunk, file) groups of data parquet, H.264 video
and episode metadata. ``pipeline.publish.lerobot`` plans the episodes and drives it."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import ExportError

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
