"""The segmented store the publish and discovery tests share, built once per session.

``segmented_store``: ``laps segment`` (the CLI, default segmenter, ``--no-shards``) on rendered
``test``-preset videos (two for ``parts.a`` = ``2026-02-03/cam1``, one for ``parts.b`` =
``2026-02-04/cam2``, one run per partition) with an untrained tiny tokenizer (seeded,
deterministic codes): videos, windows, codes, segments tables, one H.264 clip per segment, the
primitive library (fitted by the first run, reused by the second) and the segment_clusters
tables. Read-only: tests copy it before changing anything.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lapstest.segment_stores import make_checkpoint
from pipeline.publish.config import PublishConfig


@dataclass(frozen=True)
class Parts:
    """The test store's partitions and the small publish config the tests use."""

    a: tuple[str, str] = ("2026-02-03", "cam1")
    b: tuple[str, str] = ("2026-02-04", "cam2")
    cfg: PublishConfig = field(
        default_factory=lambda: PublishConfig(shard_maxcount=2, read_workers=2)
    )

    @property
    def all(self) -> tuple[tuple[str, str], ...]:
        return (self.a, self.b)


@pytest.fixture(scope="session")
def parts() -> Parts:
    return Parts()


@pytest.fixture(scope="session")
def segmented_store(tmp_path_factory: pytest.TempPathFactory, parts: Parts) -> Path:
    from click.testing import CliRunner

    from pipeline.cli.main import main
    from pipeline.synth import render_video

    base = tmp_path_factory.mktemp("publish-src")
    ckpt = make_checkpoint(base / "tiny.pt")
    videos = {parts.a: [("a.mp4", 5, 11), ("b.mp4", 4, 12)], parts.b: [("c.mp4", 5, 16)]}
    for (date, station), specs in videos.items():
        folder = base / f"in-{station}"
        for name, seconds, seed in specs:
            render_video(folder / name, seconds=seconds, seed=seed, preset="test", shake=False)
        args = ["segment", "--input", str(folder), "--output", str(base / "store"), "--no-shards",
                "--checkpoint", str(ckpt), "--station", station, "--date", date]  # fmt: skip
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output + repr(result.exception)
    return base / "store"
