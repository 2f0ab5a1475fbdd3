from pathlib import Path

import numpy as np
import pytest

from pipeline.errors import TrackFileError
from pipeline.tokens.training_data import load_track_file, load_videos


def test_float16_file_loads_as_float32(tiny_cfg, synth, tmp_path: Path) -> None:
    cfg = tiny_cfg()
    arrays = synth(np.random.default_rng(0), 5, cfg)
    arrays["velocities"] = arrays["velocities"].astype(np.float16)
    np.savez(tmp_path / "a.npz", **arrays)
    got = load_track_file(tmp_path / "a.npz", cfg)
    assert got["velocities"].dtype == np.float32
    assert np.allclose(got["velocities"], arrays["velocities"].astype(np.float32))
    assert got["frame_size"].shape == (5, 2)


def test_bad_files_raise_with_reason(tiny_cfg, synth, tmp_path: Path) -> None:
    cfg = tiny_cfg()
    arrays = synth(np.random.default_rng(0), 5, cfg)
    np.savez(tmp_path / "nokey.npz", **{k: v for k, v in arrays.items() if k != "gated"})
    with pytest.raises(TrackFileError, match="missing keys"):
        load_track_file(tmp_path / "nokey.npz", cfg)
    np.savez(tmp_path / "shape.npz", **arrays)
    with pytest.raises(TrackFileError, match="velocities shape"):
        load_track_file(tmp_path / "shape.npz", tiny_cfg(grid_size=5))
    dup = [("v", tmp_path / "shape.npz"), ("v", tmp_path / "shape.npz")]
    with pytest.raises(TrackFileError, match="duplicate window_index"):
        load_videos(dup, cfg)
