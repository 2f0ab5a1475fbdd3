"""Energy plot writes a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.segments.plots import plot_energy


def test_plot_energy_writes_png(tmp_path: Path) -> None:
    t = np.arange(100) * 0.4
    e = np.abs(np.sin(t))
    out = plot_energy(
        tmp_path / "p" / "energy.png",
        t,
        e,
        e * 0.9,
        0.5,
        0.475,
        true_boundaries=[3.0, 20.0],
        pred_boundaries=[3.4],
        title="cam1",
    )
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in out.parent.iterdir()] == ["energy.png"]


def test_plot_energy_rejects_mismatched_shapes(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        plot_energy(tmp_path / "x.png", np.arange(3.0), np.arange(4.0), None, None, None)
