"""SIGKILL at every heavy stage of ``laps segment``, then a rerun: the same outputs as a run
that was never interrupted, nothing half-written visible meanwhile, nothing left behind.

The kills are deterministic (``tests/lapstest/kill_driver.py`` wraps ``writer_path`` so the
process kills itself inside a chosen write: temp file complete, not yet published). Every file
of the store is compared byte for byte with an uninterrupted run; the one legitimate
difference is the dataset card, which names its own root folder (normalized before comparing).
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from pipeline.io.storage.base import is_temp_key

DRIVER = Path(__file__).parent / "lapstest" / "kill_driver.py"
DATE, STATION = "2026-02-03", "cam1"
CARD = "publish/README.md"

# (what is being written when the process dies, key regex, n-th matching write); run in order
# on ONE output folder: each rerun starts from what the previous kill left
KILL_POINTS = [
    ("tracking: the first track part", r"^tracks/.*-p\d+\.npz$", 1),
    ("tokenizer install: the current pointer", r"^models/tokenizer/current\.json$", 1),
    ("segments: the second clip", r"^clips/.*\.mp4$", 2),
    ("segments: the energy table", r"^tables/energy/", 1),
    ("publish: the first shard", r"^publish/shards/.*\.tar$", 1),
    ("publish: the Parquet dataset", r"^publish/dataset/", 1),
    ("card", r"^publish/README\.md$", 1),
    ("top-level segment file copies", r"^[^/]+\.segments\.json$", 2),
]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    from lapstest.segment_stores import make_checkpoint

    from pipeline.synth import render_video

    base = tmp_path_factory.mktemp("kills")
    folder = base / "in"
    render_video(folder / "a.mp4", seconds=6, seed=11, preset="test", shake=False)
    render_video(folder / "b.mp4", seconds=5, seed=12, preset="test", shake=True)
    return folder, make_checkpoint(base / "tiny.pt")


def laps_segment(
    inputs: tuple[Path, Path], out: Path, tmpdir: Path, *, checkpoint: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    folder, ckpt = inputs
    tmpdir.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, str(DRIVER), "segment", "--input", str(folder), "--output", str(out),
            "--station", STATION, "--date", DATE]  # fmt: skip
    args += ["--checkpoint", str(ckpt)] if checkpoint else ["--epochs", "2"]
    clean = {k: v for k, v in os.environ.items() if not k.startswith("LAPS_KILL")}
    return subprocess.run(
        args,
        env={**clean, "TMPDIR": str(tmpdir), **env},
        cwd=tmpdir,
        capture_output=True,
        text=True,
        timeout=600,
    )


def files_of(out: Path) -> dict[str, bytes]:
    """Every file under ``out`` (temp files included), the card's root normalized."""
    found = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        key = path.relative_to(out).as_posix()
        data = path.read_bytes()
        found[key] = data.replace(str(out).encode(), b"<ROOT>") if key == CARD else data
    return found


def temp_leftovers(out: Path) -> list[str]:
    """Temp files and folders anywhere under ``out`` (what a killed writer leaves)."""
    return sorted(
        p.relative_to(out).as_posix()
        for p in out.rglob("*")
        if is_temp_key(p.relative_to(out).as_posix())
    )


def check_visible_files_are_whole(out: Path) -> None:
    """Every file a consumer can see (not a temp file) is complete: it parses."""
    import av

    for key, data in files_of(out).items():
        if is_temp_key(key):
            continue
        if key.endswith(".parquet"):
            pq.read_table(io.BytesIO(data))
        elif key.endswith(".json"):
            json.loads(data)
        elif key.endswith(".jsonl"):
            [json.loads(line) for line in data.splitlines()]
        elif key.endswith(".tar"):
            with tarfile.open(fileobj=io.BytesIO(data)) as tar:
                assert tar.getmembers()
        elif key.endswith(".npz"):
            with np.load(io.BytesIO(data)) as npz:
                [npz[name] for name in npz.files]
        elif key.endswith(".mp4"):
            with av.open(io.BytesIO(data)) as container:
                assert sum(1 for _ in container.decode(video=0)) > 0
        elif key.endswith(".png"):
            assert data.startswith(b"\x89PNG") and data.endswith(b"IEND\xaeB`\x82")


@pytest.mark.slow
def test_sigkill_at_every_stage_then_rerun_gives_the_uninterrupted_outputs(inputs, tmp_path):
    reference = tmp_path / "reference"
    done = laps_segment(inputs, reference, tmp_path / "tmp-ref")
    assert done.returncode == 0, done.stdout + done.stderr
    expected = files_of(reference)
    assert any(k.startswith("publish/shards/") and k.endswith(".tar") for k in expected)
    assert any(k.startswith("clips/") for k in expected) and not temp_leftovers(reference)

    out, tmpdir = tmp_path / "out", tmp_path / "tmp"
    for what, key, nth in KILL_POINTS:
        killed = laps_segment(inputs, out, tmpdir, LAPS_KILL_KEY=key, LAPS_KILL_NTH=str(nth))
        assert killed.returncode == -signal.SIGKILL, (what, killed.stdout + killed.stderr)
        assert temp_leftovers(out), f"{what}: the kill left no temp file (the check is blind)"
        check_visible_files_are_whole(out)
    final = laps_segment(inputs, out, tmpdir)
    assert final.returncode == 0, final.stdout + final.stderr
    assert temp_leftovers(out) == []
    got = files_of(out)
    assert sorted(got) == sorted(expected)
    assert [k for k in expected if got[k] != expected[k]] == []  # byte-identical, every file
    assert [p.name for p in tmpdir.iterdir() if p.name.startswith("laps-")] == []


@pytest.mark.slow
def test_a_training_run_killed_mid_training_leaves_no_temp_folder_after_a_rerun(inputs, tmp_path):
    out, tmpdir = tmp_path / "out", tmp_path / "tmp"
    killed = laps_segment(inputs, out, tmpdir, checkpoint=False, LAPS_KILL_TRAIN_STEP="2")
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    left = [p.name for p in tmpdir.iterdir() if p.name.startswith("laps-train-")]
    assert len(left) == 1, "the kill must leave the training folder (else the test is blind)"
    assert not (out / "models/tokenizer/current.json").exists()
    rerun = laps_segment(inputs, out, tmpdir, checkpoint=False)
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert [p.name for p in tmpdir.iterdir() if p.name.startswith("laps-")] == []
    assert (out / "models/tokenizer/current.json").is_file() and temp_leftovers(out) == []
