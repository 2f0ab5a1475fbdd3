"""``save_tracks`` / ``load_tracks`` round trips and ``WindowTracks`` invariants."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from pipeline.config import WindowConfig
from pipeline.errors import TrackStoreError
from pipeline.tracks.store import load_track_meta, load_tracks, save_tracks
from pipeline.tracks.tracking import TrackingConfig, WindowTracks, track_windows

WCFG = WindowConfig(window_frames=6, stride_frames=2, grid_size=5)


@pytest.fixture
def tracks(synth) -> WindowTracks:
    static = synth.static_frames(8, size=(96, 64))
    moving = synth.render(synth.rotation(1.0), 8, size=(96, 64), seed=3)
    frames = static + [type(f)(8 + k, (8 + k) / 10, f.image) for k, f in enumerate(moving)]
    out = track_windows(frames, WCFG, first_window_index=5)
    assert out.gated.any() and not out.gated.all()
    return out


@pytest.mark.parametrize("compressed", [True, False])
def test_round_trip_is_exact(tracks, tmp_path, compressed):
    path = tmp_path / "sub" / "tracks.npz"
    meta = {"window": WCFG.fingerprint(), "tracking": TrackingConfig().fingerprint(), "n": 3}
    save_tracks(tracks, path, compressed=compressed, meta=meta)
    loaded = load_tracks(path)
    assert loaded.equals(tracks)
    for field in dataclasses.fields(WindowTracks):
        a, b = getattr(loaded, field.name), getattr(tracks, field.name)
        if field.name != "frame_size":
            assert a.dtype == b.dtype, field.name
    assert load_track_meta(path) == meta
    assert [p.name for p in path.parent.iterdir()] == ["tracks.npz"], "no temp file left"


def test_overwrite_replaces_and_empty_round_trips(tracks, tmp_path):
    path = tmp_path / "t.npz"
    save_tracks(tracks, path)
    empty = WindowTracks.empty(6, 25, (96, 64))
    save_tracks(empty, path)
    loaded = load_tracks(path)
    assert len(loaded) == 0 and loaded.equals(empty)
    assert load_track_meta(path) == {}


def test_equals_detects_a_changed_value(tracks, tmp_path):
    path = tmp_path / "t.npz"
    save_tracks(tracks, path)
    loaded = load_tracks(path)
    loaded.velocities[0, 0, 0, 0] += 1e-6
    assert not loaded.equals(tracks)


def test_foreign_files_are_rejected(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, x=np.arange(3))
    with pytest.raises(TrackStoreError, match="format_version"):
        load_tracks(path)


def test_concat_checks_shapes(tracks):
    both = WindowTracks.concat([tracks, WindowTracks.empty(6, 25, (0, 0)), tracks])
    assert len(both) == 2 * len(tracks)
    with pytest.raises(ValueError, match="different"):
        WindowTracks.concat([tracks, WindowTracks.empty(6, 25, (10, 10)), _one_window(tracks, 99)])
    with pytest.raises(ValueError, match="at least one"):
        WindowTracks.concat([])


def _one_window(tracks: WindowTracks, size: int) -> WindowTracks:
    """First window of ``tracks`` with another frame size."""
    arrays = {
        f.name: getattr(tracks, f.name)[:1]
        for f in dataclasses.fields(tracks)
        if f.name != "frame_size"
    }
    return WindowTracks(**arrays, frame_size=(size, size))


def test_inconsistent_shapes_are_rejected(tracks):
    arrays = {f.name: getattr(tracks, f.name) for f in dataclasses.fields(tracks)}
    arrays["visibility"] = arrays["visibility"][:, :-1]
    with pytest.raises(ValueError, match="visibility"):
        WindowTracks(**arrays)
