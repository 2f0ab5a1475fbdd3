"""Bad inputs never change good results: the same good videos, alone or beside a corpus of bad
files (broken, empty, truncated, not video, duplicates, hidden, a name that is not UTF-8), give
identical segments; the good file with the odd name is segmented like the others."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from lapstest.segment_stores import make_checkpoint

from pipeline.cli.main import main
from pipeline.io.storage import LocalStorage
from pipeline.io.tables import read_partition
from pipeline.synth import render_video

D, S = "2026-02-03", "cam1"
LATIN1 = b"caf\xe9 take.mp4"  # a good video whose name is not UTF-8


def _good(folder: Path) -> None:
    folder.mkdir(parents=True)
    render_video(folder / "one.mp4", seconds=6, seed=41, preset="test", shake=False)
    render_video(folder / "two.mp4", seconds=5, seed=42, preset="test", shake=True)
    render_video(Path(os.fsdecode(os.fsencode(folder) + b"/" + LATIN1)), seconds=5, seed=43,
                 preset="test", shake=False)  # fmt: skip


def _bad_corpus(folder: Path) -> dict[str, str]:
    """Bad files beside the good ones; what each must become (quarantine reason)."""
    (folder / "empty.mp4").write_bytes(b"")
    (folder / "garbage.mp4").write_bytes(b"\x00not a video at all" * 500)
    data = (folder / "one.mp4").read_bytes()
    (folder / "truncated.mp4").write_bytes(data[: len(data) // 3])
    (folder / "text.MP4").write_text("a note saved with the wrong extension\n")
    shutil.copy(folder / "two.mp4", folder / "zz-copy-of-two.mp4")  # same bytes as a good one
    (folder / "._one.mp4").write_bytes(b"macOS resource fork")  # hidden: never taken
    (folder / "notes.txt").write_text("not a video extension")  # never taken
    return {
        "empty.mp4": "unreadable",
        "garbage.mp4": "unreadable",
        "truncated.mp4": "unreadable",
        "text.MP4": "unreadable",
        "zz-copy-of-two.mp4": "duplicate",
    }


def _run(folder: Path, out: Path, ckpt: Path) -> str:
    args = ["segment", "--input", str(folder), "--output", str(out), "--checkpoint", str(ckpt),
            "--station", S, "--date", D]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return result.output


def _segments(out: Path) -> dict:
    store = LocalStorage(out)
    rows = read_partition(store, "segments", D, S).to_pylist()
    for r in rows:
        r.pop("clip_key")  # clip keys name the store they live in
    files = {p.name: json.loads(p.read_bytes()) for p in out.glob("*.segments.json")}
    return {"rows": sorted(rows, key=lambda r: r["segment_id"]), "files": files}


@pytest.mark.slow
def test_bad_files_beside_good_ones_change_nothing(tmp_path):
    ckpt = make_checkpoint(tmp_path / "tiny.pt")
    clean, dirty = tmp_path / "clean" / "in", tmp_path / "dirty" / "in"
    _good(clean)
    shutil.copytree(clean, dirty)
    expected = _bad_corpus(dirty)

    _run(clean, tmp_path / "clean" / "out", ckpt)
    output = _run(dirty, tmp_path / "dirty" / "out", ckpt)

    alone, beside = _segments(tmp_path / "clean" / "out"), _segments(tmp_path / "dirty" / "out")
    assert beside == alone
    assert len(alone["files"]) == 3 and alone["rows"]
    store = LocalStorage(tmp_path / "dirty" / "out")
    quarantine = read_partition(store, "quarantine", D, S).to_pylist()
    assert {q["file_name"]: q["reason"] for q in quarantine} == expected
    for name in expected:  # every bad file is reported on the terminal too
        assert name in output
    videos = read_partition(store, "videos", D, S).to_pylist()
    latin = [v for v in videos if v["uri_bytes"].endswith(LATIN1)]
    assert len(latin) == 1 and latin[0]["file_name"] == "caf\\xe9 take.mp4"
    assert "caf_xe9 take.segments.json" in beside["files"]  # segmented like the others
