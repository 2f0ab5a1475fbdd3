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


def test_merged_boundaries_are_drawn_apart_from_the_kept_ones(tmp_path: Path) -> None:
    """The boundaries the adaptive count rule merged away appear as their own grey lines."""
    from matplotlib import image

    t = np.arange(100) * 0.4
    e = np.abs(np.sin(t))
    kw = {"pred_boundaries": [10.0], "title": "cam1"}
    plain = plot_energy(tmp_path / "a.png", t, e, None, None, None, **kw)
    merged = plot_energy(
        tmp_path / "b.png", t, e, None, None, None, merged_boundaries=[5.0, 25.0, 33.0], **kw
    )

    a, b = (image.imread(p)[..., :3] for p in (plain, merged))
    assert a.shape == b.shape
    changed = np.abs(a - b).max(axis=-1) > 0.05
    assert changed.sum() > 200  # three lines over the axes' height, and their legend entry
    cols = np.flatnonzero(changed.any(axis=0))
    assert cols.size >= 3 and np.diff(cols).max() > 10  # apart, not one smudge
