"""``workers``: the per-video work of a partition (tracks, clips) on a process pool gives the
same rows and the same bytes as one process."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lapstest.segment_stores import BLOCK_MOVE, block_frames, make_checkpoint

from pipeline.io.storage import LocalStorage
from pipeline.io.tables import read_partition
from pipeline.io.video import encode_frames, probe_video
from pipeline.segments.config import SegmentationConfig
from pipeline.stages import PipelineConfig
from pipeline.workers import map_videos, store_handle

SIZE = (400, 300)  # short side above the default clip short side: clips are scaled


def _files(root: Path, top: str) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted((root / top).rglob("*"))
            if p.is_file()}  # fmt: skip


def _run(input_dir: Path, out: Path, ckpt: Path, workers: int):
    from pipeline.cli.segment import run_folder

    cfg = PipelineConfig(
        segmentation=SegmentationConfig(method="changepoint", features=("motion",)),
        workers=workers,
    )
    return run_folder(input_dir, out, config=cfg, checkpoint=ckpt, station="w1",
                      date="2026-01-03", publish=False)  # fmt: skip


@pytest.mark.slow
def test_two_workers_write_what_one_writes(tmp_path):
    inp = tmp_path / "input"
    inp.mkdir()
    for name, seconds in (("a.mp4", 10.0), ("b.mp4", 9.0)):  # two videos (different ids)
        encode_frames(block_frames(seconds, 30.0, BLOCK_MOVE, size=SIZE), inp / name, fps=30.0)
    ckpt = make_checkpoint(tmp_path / "tiny.pt")
    one, two = tmp_path / "one", tmp_path / "two"
    run1, run2 = _run(inp, one, ckpt, 1), _run(inp, two, ckpt, 2)
    assert len(run1.videos) == len(run2.videos) == 2
    s1, s2 = LocalStorage(one), LocalStorage(two)
    for table in ("windows", "codes", "energy", "segments"):
        t1 = read_partition(s1, table, run1.date, run1.station)
        t2 = read_partition(s2, table, run2.date, run2.station)
        assert t1 is not None and t1.num_rows > 0, table
        assert t1.to_pylist() == t2.to_pylist(), table  # row for row
    for top in ("tracks", "clips", "segments"):
        f1, f2 = _files(one, top), _files(two, top)
        assert f1 and f1.keys() == f2.keys(), top
        assert [k for k in f1 if f1[k] != f2[k]] == [], top  # byte for byte
    clips = [k for k in _files(one, "clips") if k.endswith(".mp4")]
    assert clips
    probe = probe_video(one / clips[0])
    assert (probe.width, probe.height) == (342, 256)  # the default short side
    segfile = next(k for k in _files(one, "segments") if k.endswith(".segments.json"))
    meta = json.loads((one / segfile).read_text())["meta"]
    assert meta["clips"] == {"width": 342, "height": 256, "short_side": 256,
                             "preset": "superfast", "threads": 1, "crf": 20,
                             "fps": None}  # fmt: skip


def _double(store, x: int) -> tuple[str, int]:
    return store.root, 2 * x


def test_map_videos_keeps_the_order_and_reopens_the_store(tmp_path):
    store = LocalStorage(tmp_path)
    seen = []
    out = map_videos(_double, store, [(i,) for i in range(5)], workers=2,
                     on_result=lambda i, r: seen.append(i))  # fmt: skip
    assert out == [(store.root, 2 * i) for i in range(5)] and seen == list(range(5))
    assert store_handle(store) == ("local", store.root, None)


def test_a_store_that_cannot_be_reopened_runs_in_process(tmp_path):
    class Wrapped(LocalStorage):
        pass

    store = Wrapped(tmp_path)
    assert store_handle(store) is None
    assert map_videos(_double, store, [(1,), (2,)], workers=2) == [(store.root, 2), (store.root, 4)]
