"""Tiny stores (videos + windows tables) and segment folders for the `laps eval` tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from pipeline.io.schemas import (
    ENERGY,
    ENERGY_VERSION,
    VIDEOS,
    VIDEOS_VERSION,
    WINDOWS,
    WINDOWS_VERSION,
)
from pipeline.io.storage import open_storage
from pipeline.io.tables import write_partition
from pipeline.segments.segfile import Segment, SegmentFile, write_segments

STRIDE_SEC = 0.4  # 4 frames at 10 fps
SPAN_SEC = 1.5  # first to last frame of a 16-frame window
DATE = "2024-05-01"
# per-column amplitude of the active level (idle level is 5 % of it)
AMPLITUDE = {"track_speed": 1.0, "flow_magnitude": 3.0, "pixel_diff": 0.2}


@dataclass(frozen=True)
class VideoSpec:
    """One store video: its stem, station, duration and true active spans in seconds."""

    stem: str
    station: str
    duration: float
    active: tuple[tuple[float, float], ...]
    gated_until: float = 0.0  # windows starting before this are gated


def window_times(duration: float) -> tuple[np.ndarray, np.ndarray]:
    """Start and end seconds of every full window of a video."""
    n = int(np.floor((duration - SPAN_SEC) / STRIDE_SEC)) + 1
    start = np.arange(n) * STRIDE_SEC
    return start, start + SPAN_SEC


def _signal(spec: VideoSpec, centre: np.ndarray, column: str, seed: int) -> np.ndarray:
    on = np.zeros(centre.size, dtype=bool)
    for a, b in spec.active:
        on |= (centre >= a) & (centre < b)
    rng = np.random.default_rng(seed)
    amp = AMPLITUDE[column]
    return amp * np.where(on, 1.0, 0.05) * (1.0 + 0.05 * rng.standard_normal(centre.size))


def write_store(root: Path, specs: Sequence[VideoSpec], *, energy: bool = False) -> Path:
    """videos + windows tables (and optionally energy) for ``specs``, one partition/station."""
    storage = open_storage(root)
    for station in sorted({s.station for s in specs}):
        group = [s for s in specs if s.station == station]
        vids, wins, ens = [], [], []
        for k, spec in enumerate(group):
            vid = f"vid-{spec.stem}"
            start, end = window_times(spec.duration)
            centre = (start + end) / 2
            sig = {c: _signal(spec, centre, c, seed=k * 10 + i) for i, c in enumerate(AMPLITUDE)}
            gated = start < spec.gated_until
            vids.append(_video_row(vid, spec))
            for w in range(start.size):
                wins.append(_window_row(vid, w, start[w], end[w], bool(gated[w]), sig))
                ens.append(_energy_row(vid, w, start[w], end[w], bool(gated[w]), sig))
        write_partition(
            storage, "videos", DATE, station, vids, schema=VIDEOS, schema_version=VIDEOS_VERSION
        )
        write_partition(
            storage, "windows", DATE, station, wins, schema=WINDOWS, schema_version=WINDOWS_VERSION
        )
        if energy:
            write_partition(
                storage, "energy", DATE, station, ens, schema=ENERGY, schema_version=ENERGY_VERSION
            )
    return root


def _video_row(vid: str, spec: VideoSpec) -> dict[str, object]:
    return dict(
        video_id=vid, uri=f"file:///{spec.stem}.mp4", uri_bytes=f"file:///{spec.stem}.mp4".encode(),
        landing_key=f"{spec.stem}.mp4", file_name=f"{spec.stem}.mp4",
        size_bytes=1000, duration_sec=spec.duration, fps=10.0, width=64, height=48,
        codec="h264", rotation=0, frame_count=int(spec.duration * 10),
        landed_at=datetime(2024, 5, 1, tzinfo=UTC), target_fps=10.0, norm_width=64,
        norm_height=48, num_chunks=1, num_windows=window_times(spec.duration)[0].size,
    )  # fmt: skip


def _window_row(
    vid: str, w: int, start: float, end: float, gated: bool, sig: dict[str, np.ndarray]
) -> dict[str, object]:
    return dict(
        video_id=vid, chunk_index=0, window_index=w, start_frame=4 * w, end_frame=4 * w + 15,
        start_sec=float(start), end_sec=float(end), gated=gated, camera_compensated=False,
        global_motion_share=0.0, track_speed=float(sig["track_speed"][w]),
        flow_magnitude=float(sig["flow_magnitude"][w]), pixel_diff=float(sig["pixel_diff"][w]),
        tracks_key="tracks/x.npz", fps=10.0, target_fps=10.0, window_frames=16,
        stride_frames=4, grid_size=20,
    )  # fmt: skip


def _energy_row(
    vid: str, w: int, start: float, end: float, gated: bool, sig: dict[str, np.ndarray]
) -> dict[str, object]:
    lae = float(sig["track_speed"][w]) * 2
    return dict(
        video_id=vid, window_index=w, start_sec=float(start), end_sec=float(end),
        center_sec=float((start + end) / 2), gated=gated, lae=lae, lae_pre=lae,
        track_speed=float(sig["track_speed"][w]), flow_magnitude=float(sig["flow_magnitude"][w]),
        pixel_diff=float(sig["pixel_diff"][w]), lae_smoothed=lae, thr_on=1.0, thr_off=0.95,
        tokenizer_version="tok-test",
    )  # fmt: skip


def write_segfile(
    folder: Path,
    stem: str,
    spans: Sequence[tuple[float, float]],
    duration: float,
    *,
    label: str | None = "active",
    meta: dict[str, object] | None = None,
) -> Path:
    """``<folder>/<stem>.segments.json`` with the given (start, end) spans."""
    segs = tuple(Segment(a, b, label) for a, b in spans)
    segfile = SegmentFile(f"{stem}.mp4", 10.0, duration, segs, dict(meta or {}))
    return write_segments(folder / f"{stem}.segments.json", segfile)


SPECS = (
    VideoSpec("s1_a", "s1", 30.0, ((6.0, 14.0),)),
    VideoSpec("s1_b", "s1", 30.0, ((4.0, 10.0), (18.0, 26.0))),
    VideoSpec("s2_a", "s2", 24.0, ((8.0, 16.0),)),
)


@pytest.fixture
def store_factory() -> Callable[..., Path]:
    return write_store


@pytest.fixture
def segfile_factory() -> Callable[..., Path]:
    return write_segfile


@pytest.fixture
def gt_for_specs(tmp_path: Path) -> Path:
    """Ground truth of ``SPECS``: the active spans (idle gaps left implicit)."""
    gt = tmp_path / "gt"
    for spec in SPECS:
        write_segfile(gt, spec.stem, spec.active, spec.duration)
    return gt


@pytest.fixture
def specs() -> tuple[VideoSpec, ...]:
    return SPECS


@pytest.fixture
def video_spec() -> type[VideoSpec]:
    return VideoSpec
