"""A file the process may not read (permission denied) is quarantined and the rest proceeds.

Run for real: as root, the command runs without the capabilities that let root ignore file
modes (``setpriv`` drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH), so ``chmod 000`` bites."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.io.storage import LocalStorage
from pipeline.io.tables import read_partition
from pipeline.synth import render_video

NO_DAC = ["--inh-caps=-dac_override,-dac_read_search",
          "--bounding-set=-dac_override,-dac_read_search"]  # fmt: skip


def _as_user(cmd: list[str]) -> list[str]:
    if os.geteuid() != 0:
        return cmd
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("root without setpriv: file modes cannot be enforced")
    return [setpriv, *NO_DAC, *cmd]


@pytest.mark.slow
def test_an_unreadable_file_is_quarantined_and_the_others_are_segmented(tmp_path):
    folder = tmp_path / "in"
    render_video(folder / "a.mp4", seconds=5, seed=61, preset="test", shake=False)
    render_video(folder / "b.mp4", seconds=5, seed=62, preset="test", shake=False)
    (folder / "b.mp4").chmod(0)
    out = tmp_path / "out"
    from lapstest.segment_stores import make_checkpoint

    ckpt = make_checkpoint(tmp_path / "tiny.pt")
    cmd = [sys.executable, "-m", "pipeline.cli.main", "segment", "--input", str(folder),
           "--output", str(out), "--checkpoint", str(ckpt), "--no-shards", "--station", "s1",
           "--date", "2026-01-02"]  # fmt: skip
    try:
        proc = subprocess.run(_as_user(cmd), capture_output=True, text=True, timeout=600,
                              cwd=Path(__file__).parents[3])  # fmt: skip
    finally:
        (folder / "b.mp4").chmod(0o644)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "quarantined b.mp4: unreadable PermissionError" in proc.stdout.replace("\n", " ")
    store = LocalStorage(out)
    q = read_partition(store, "quarantine", "2026-01-02", "s1").to_pylist()
    assert [(r["file_name"], r["reason"]) for r in q] == [("b.mp4", "unreadable")]
    assert "Permission denied" in q[0]["detail"]
    assert (out / "a.segments.json").is_file() and not (out / "b.segments.json").exists()


def test_a_folder_that_cannot_be_listed_is_reported_and_the_rest_discovered(tmp_path):
    land = tmp_path / "landing"
    render_video(land / "st1" / "2026-01-02" / "a.mp4", seconds=2, seed=63, preset="test",
                 shake=False)  # fmt: skip
    locked = land / "st2"
    locked.mkdir()
    (locked / "b.mp4").write_bytes(b"x")
    locked.chmod(0)
    code = ("import logging, sys; logging.basicConfig(stream=sys.stdout);"
            "from pipeline.ingest.landing import discover;"
            "from pipeline.io.storage import open_storage;"
            f"print([f.key for f in discover(open_storage({str(land)!r}))])")  # fmt: skip
    try:
        proc = subprocess.run(_as_user([sys.executable, "-c", code]), capture_output=True,
                              text=True, timeout=300, cwd=Path(__file__).parents[3])  # fmt: skip
    finally:
        locked.chmod(0o755)
    assert proc.returncode == 0, proc.stderr
    assert "['st1/2026-01-02/a.mp4']" in proc.stdout
    assert f"cannot list {locked}" in proc.stdout and "its files are not taken" in proc.stdout
