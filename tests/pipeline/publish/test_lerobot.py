"""The LeRobot v3.0 export (``pipeline.publish.lerobot``) of a real segmented store.

The store: two rendered ``test``-preset videos, one per partition, through the whole pipeline
(``run_folder``) with an untrained tiny tokenizer. In-process tests check the layout, the
metadata and, decoding the export with PyAV, that each episode's first and last frame is the
clip frame of its step. The ``lerobot`` tests load the export with lerobot 0.4.4's own
``LeRobotDataset`` in ``.venv-lerobot`` (``tests/lerobot_env/make-env.sh``) through
``tests/lerobot_env/read_export.py``: skipped when that env is missing, failed under CI.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from lapstest.segment_stores import make_checkpoint

from pipeline.errors import ExportError, LapsError
from pipeline.io import schemas
from pipeline.io.storage import LocalStorage
from pipeline.io.tables import read_partition, write_partition
from pipeline.io.video import encode_frames, source_index
from pipeline.publish.lerobot import LATENT_KEY, VIDEO_KEY, default_out_dir, export_lerobot

REPO = Path(__file__).resolve().parents[3]
LEROBOT_VENV = Path(os.environ.get("LEROBOT_VENV", REPO / ".venv-lerobot"))
READER = REPO / "tests" / "lerobot_env" / "read_export.py"
PARTS = (("2026-02-03", "cam1"), ("2026-02-04", "cam2"))
VIDEOS = {PARTS[0]: ("a.mp4", 5, 11), PARTS[1]: ("b.mp4", 4, 12)}
MAX_MEAN_ABS_DIFF = 8.0  # gray levels: a second lossy encode of the clip frames


@dataclass(frozen=True)
class Export:
    store: LocalStorage
    out: Path
    summary: dict[str, Any]


@pytest.fixture(scope="module")
def lerobot_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.cli.segment import run_folder
    from pipeline.stages import PipelineConfig
    from pipeline.synth import render_video

    base = tmp_path_factory.mktemp("lerobot-src")
    ckpt = make_checkpoint(base / "tiny.pt")
    for (date, station), (name, seconds, seed) in VIDEOS.items():
        folder = base / f"in-{station}"
        render_video(folder / name, seconds=seconds, seed=seed, preset="test", shake=False)
        run = run_folder(folder, base / "store", config=PipelineConfig(), checkpoint=ckpt,
                         station=station, date=date)  # fmt: skip
        assert run.videos
    return base / "store"


@pytest.fixture(scope="module")
def exported(lerobot_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Export:
    store = LocalStorage(lerobot_store)
    out = tmp_path_factory.mktemp("lerobot-out") / "laps"
    return Export(store, out, export_lerobot(store, out))


@pytest.fixture(scope="module")
def rotated(lerobot_store: Path, tmp_path_factory: pytest.TempPathFactory) -> Export:
    """Two episodes per file, two files per chunk: several files and chunk folders."""
    store = LocalStorage(lerobot_store)
    out = tmp_path_factory.mktemp("lerobot-rot") / "laps"
    return Export(store, out, export_lerobot(store, out, episodes_per_file=2, chunks_size=2))


def segment_rows(store: LocalStorage) -> list[dict[str, Any]]:
    """Segments with a clip, in export order (date, station, file name, start frame)."""
    rows = []
    for date, station in PARTS:
        name = VIDEOS[(date, station)][0]
        for r in read_partition(store, "segments", date, station).to_pylist():
            if r["clip_key"] is not None:
                rows.append({**r, "date": date, "station": station, "file_name": name})
    return sorted(rows, key=lambda r: (r["date"], r["station"], r["file_name"], r["start_frame"]))


def read_meta(out: Path) -> tuple[dict, list[dict], pa.Table]:
    info = json.loads((out / "meta/info.json").read_text())
    episodes = pq.ParquetDataset(sorted((out / "meta/episodes").glob("*/*.parquet"))).read()
    data = pq.ParquetDataset(sorted((out / "data").glob("*/*.parquet"))).read()
    return info, episodes.to_pylist(), data


def decode(path: Path, size: tuple[int, int] | None = None) -> list[tuple[float, np.ndarray]]:
    """Every frame of an mp4: (time in s, RGB uint8), optionally resized as the export does."""
    with av.open(str(path)) as container:
        out = []
        for f in container.decode(video=0):
            if size is not None and (f.width, f.height) != size:
                f = f.reformat(width=size[0], height=size[1], format="rgb24", interpolation="AREA")
            out.append((float(f.time), f.to_ndarray(format="rgb24")))
    return out


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def assert_is_step_frame(img: np.ndarray, clip: list[np.ndarray], steps: list[int], k: int) -> None:
    """``img`` is clip frame ``steps[k]`` (lossy): close to it, and closer to it than to the
    neighbouring steps' frames wherever those differ from it."""
    own = clip[steps[k]]
    d_own = mad(img, own)
    assert d_own < MAX_MEAN_ABS_DIFF, f"step {k}: mean abs diff {d_own:.2f} to its clip frame"
    for n in (k - 1, k + 1):
        if 0 <= n < len(steps) and mad(own, clip[steps[n]]) > 1.0:
            d_n = mad(img, clip[steps[n]])
            assert d_own < d_n, f"step {k} looks like step {n}'s frame ({d_own:.2f} vs {d_n:.2f})"


def clip_steps(seg: dict[str, Any]) -> list[int]:
    """Clip frames of the segment's steps, from the sampling rule (independent of the export)."""
    frames = []
    for s in range(10**6):
        f = source_index(s, seg["fps"], seg["target_fps"])
        if f >= seg["end_frame"]:
            break
        if f >= seg["start_frame"]:
            frames.append(f - seg["start_frame"])
    return frames[: len(seg["codes"])]


def test_info_and_layout(exported: Export):
    info, episodes, data = read_meta(exported.out)
    segs = segment_rows(exported.store)
    n_frames = sum(len(s["codes"]) for s in segs)
    assert exported.summary["episodes"] == info["total_episodes"] == len(episodes) == len(segs)
    assert exported.summary["frames"] == info["total_frames"] == data.num_rows == n_frames
    assert exported.summary["out"] == str(exported.out) and exported.summary["seconds"] > 0
    assert info["codebase_version"] == "v3.0" and info["fps"] == 10 and info["total_tasks"] == 1
    assert info["chunks_size"] == 1000 and info["splits"] == {"train": f"0:{len(segs)}"}
    assert info["data_path"] == "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
    assert info["video_path"] == (
        "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
    )
    feats = info["features"]
    assert all("/" not in k for k in feats)
    w, h = exported.summary["size"]
    assert (w, h) == (320, 240)  # the clips' size
    assert feats[VIDEO_KEY]["dtype"] == "video" and feats[VIDEO_KEY]["shape"] == [h, w, 3]
    assert feats[VIDEO_KEY]["names"] == ["height", "width", "channels"]
    assert feats[VIDEO_KEY]["info"]["video.fps"] == 10
    assert feats[LATENT_KEY] == {"dtype": "int64", "shape": [1], "names": ["code"]}
    assert info["laps"]["codebook_size"] == segs[0]["codebook_size"]
    assert info["laps"]["tokenizer_version"] == segs[0]["tokenizer_version"]
    # data: exactly the non-video features, sorted by the contiguous global index
    assert data.column_names == [k for k in feats if k != VIDEO_KEY]
    assert data.schema.field("timestamp").type == pa.float32()
    assert data.schema.field(LATENT_KEY).type == pa.int64()
    assert data["index"].to_pylist() == list(range(n_frames))
    fi = np.asarray(data["frame_index"])
    assert np.array_equal(np.asarray(data["timestamp"]), (fi / 10).astype(np.float32))
    assert set(data["task_index"].to_pylist()) == {0}
    files = sorted(str(p.relative_to(exported.out)) for p in exported.out.rglob("*") if p.is_file())
    assert files == [
        "data/chunk-000/file-000.parquet",
        "meta/episodes/chunk-000/file-000.parquet",
        "meta/info.json",
        "meta/stats.json",
        "meta/tasks.parquet",
        f"videos/{VIDEO_KEY}/chunk-000/file-000.mp4",
    ]
    tasks = pq.read_table(exported.out / "meta/tasks.parquet")
    assert tasks.to_pylist() == [{"task_index": 0, "task": "assembly work"}]
    assert json.loads(tasks.schema.metadata[b"pandas"])["index_columns"] == ["task"]
    stats = json.loads((exported.out / "meta/stats.json").read_text())
    assert sorted(stats) == sorted(feats)
    for key, st in stats.items():
        assert {"min", "max", "mean", "std", "count", "q01", "q10", "q50", "q90", "q99"} <= set(st)
        assert st["count"] == [n_frames], key
    assert np.asarray(stats[VIDEO_KEY]["mean"]).shape == (3, 1, 1)
    assert 0 <= stats[VIDEO_KEY]["min"][0][0][0] <= stats[VIDEO_KEY]["max"][0][0][0] <= 1
    codes = np.concatenate([s["codes"] for s in segs])
    assert stats[LATENT_KEY]["min"] == [int(codes.min())]
    assert stats[LATENT_KEY]["mean"] == [pytest.approx(codes.mean())]


def test_episodes_are_the_segments_in_order(exported: Export):
    _, episodes, data = read_meta(exported.out)
    segs = segment_rows(exported.store)
    assert [e["laps/segment_id"] for e in episodes] == [s["segment_id"] for s in segs]
    assert {(e["laps/date"], e["laps/station"]) for e in episodes} == set(PARTS)
    rows = data.to_pylist()
    start = 0
    for i, (ep, seg) in enumerate(zip(episodes, segs, strict=True)):
        n = len(seg["codes"])
        assert ep["episode_index"] == i and ep["length"] == n and ep["tasks"] == ["assembly work"]
        assert (ep["dataset_from_index"], ep["dataset_to_index"]) == (start, start + n)
        assert ep[f"videos/{VIDEO_KEY}/from_timestamp"] == start / 10  # one file: global / fps
        assert ep[f"videos/{VIDEO_KEY}/to_timestamp"] == (start + n) / 10
        mine = rows[start : start + n]
        assert [r[LATENT_KEY] for r in mine] == seg["codes"]  # frame k <-> code of step k
        assert [r["frame_index"] for r in mine] == list(range(n))
        assert {r["episode_index"] for r in mine} == {i}
        assert [f - seg["start_frame"] for f in ep["laps/source_frames"]] == clip_steps(seg)
        assert all(seg["start_frame"] <= f < seg["end_frame"] for f in ep["laps/source_frames"])
        start += n


def check_frames(export: Export, size: tuple[int, int] | None = None) -> None:
    """Decode each episode's first and last frame from the export's mp4 at ``from_timestamp +
    timestamp`` and compare with the clip's frame of that step."""
    _, episodes, data = read_meta(export.out)
    segs = {s["segment_id"]: s for s in segment_rows(export.store)}
    ts = np.asarray(data["timestamp"], np.float64)
    videos: dict[str, list[tuple[float, np.ndarray]]] = {}
    for ep in episodes:
        chunk, file = ep[f"videos/{VIDEO_KEY}/chunk_index"], ep[f"videos/{VIDEO_KEY}/file_index"]
        rel = f"videos/{VIDEO_KEY}/chunk-{chunk:03d}/file-{file:03d}.mp4"
        if rel not in videos:
            videos[rel] = decode(export.out / rel)
            times = [t for t, _ in videos[rel]]
            assert times == [i / 10 for i in range(len(times))]  # CFR, pts = position in file
        seg = segs[ep["laps/segment_id"]]
        clip = [img for _, img in decode(Path(export.store.uri(seg["clip_key"])), size)]
        steps = clip_steps(seg)
        for k in (0, ep["length"] - 1):
            query = ep[f"videos/{VIDEO_KEY}/from_timestamp"] + ts[ep["dataset_from_index"] + k]
            t, img = videos[rel][round(query * 10)]
            assert abs(t - query) < 1e-4  # LeRobot's tolerance
            assert_is_step_frame(img, clip, steps, k)


def test_frames_are_the_clip_frames_of_the_steps(exported: Export):
    check_frames(exported)


def test_rotation_over_files_and_chunks(rotated: Export, exported: Export):
    info, episodes, data = read_meta(rotated.out)
    n_eps = len(episodes)
    assert n_eps >= 3, "the test store should give at least three segments"
    n_files = math.ceil(n_eps / 2)
    assert rotated.summary["files"] == n_files and info["chunks_size"] == 2
    for i, ep in enumerate(episodes):
        chunk, file = divmod(i // 2, 2)  # file number n -> chunk n // 2, file n % 2
        for prefix in ("data", f"videos/{VIDEO_KEY}", "meta/episodes"):
            assert (ep[f"{prefix}/chunk_index"], ep[f"{prefix}/file_index"]) == (chunk, file)
        first_in_file = episodes[i - i % 2]["dataset_from_index"]
        assert ep[f"videos/{VIDEO_KEY}/from_timestamp"] == (
            (ep["dataset_from_index"] - first_in_file) / 10
        )
        assert (rotated.out / f"data/chunk-{chunk:03d}/file-{file:03d}.parquet").is_file()
    assert (rotated.out / f"videos/{VIDEO_KEY}/chunk-001/file-000.mp4").is_file()
    _, _, single = read_meta(exported.out)
    assert data.equals(single)  # same rows, only split differently
    check_frames(rotated)


def test_max_file_seconds_rotates(exported: Export, tmp_path: Path):
    out = tmp_path / "short"
    summary = export_lerobot(exported.store, out, max_file_seconds=2.0)
    _, episodes, _ = read_meta(out)
    per_file: dict[tuple[int, int], list[int]] = {}
    for ep in episodes:
        key = (ep["data/chunk_index"], ep["data/file_index"])
        per_file.setdefault(key, []).append(ep["length"])
    assert summary["files"] == len(per_file) > 1
    assert all(len(v) == 1 or sum(v) <= 20 for v in per_file.values())  # <= 2 s at 10 fps


def test_rerun_replaces_and_resizes(exported: Export, tmp_path: Path):
    out = tmp_path / "again"
    export_lerobot(exported.store, out)
    first = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    export_lerobot(exported.store, out)  # same inputs: the same bytes, mp4 included
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == first
    export_lerobot(exported.store, out, task="put the part in the fixture")
    (out / "leftover.txt").write_text("from the first export")
    summary = export_lerobot(exported.store, out, size=(160, 120))
    assert not (out / "leftover.txt").exists()  # replaced whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again"]  # no temp or old folders
    info, _, _ = read_meta(out)
    assert summary["size"] == [160, 120] and info["features"][VIDEO_KEY]["shape"] == [120, 160, 3]
    tasks = pq.read_table(out / "meta/tasks.parquet").to_pylist()
    assert tasks == [{"task_index": 0, "task": "assembly work"}]
    check_frames(Export(exported.store, out, summary), size=(160, 120))


def test_refuses_to_replace_a_foreign_folder(exported: Export, tmp_path: Path):
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    with pytest.raises(ExportError, match="refusing to replace"):
        export_lerobot(exported.store, foreign)
    assert (foreign / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    with pytest.raises(ExportError, match="even"):
        export_lerobot(exported.store, tmp_path / "odd", size=(161, 120))


def test_default_out_dir_is_the_store_publish_folder(lerobot_store: Path, tmp_path: Path):
    shutil.copytree(lerobot_store, tmp_path / "store")
    store = LocalStorage(tmp_path / "store")
    out = default_out_dir(store, tmp_path / "data")
    assert out == tmp_path / "store" / "publish" / "lerobot"
    export_lerobot(store, out)
    listed = [i.key for i in store.list("publish/lerobot/")]
    assert "publish/lerobot/meta/info.json" in listed
    assert sorted(p.name for p in out.parent.iterdir() if "lerobot" in p.name) == ["lerobot"]


def rewrite_segments(root: Path, tmp_path: Path, change) -> LocalStorage:
    """A copy of the store whose first partition's segments are ``change(rows)``."""
    shutil.copytree(root, tmp_path / "store")
    store = LocalStorage(tmp_path / "store")
    date, station = PARTS[0]
    rows = read_partition(store, "segments", date, station).to_pylist()
    change(rows)
    write_partition(store, "segments", date, station, rows, schema=schemas.SEGMENTS,
                    schema_version=schemas.SEGMENTS_VERSION)  # fmt: skip
    return store


def test_segments_without_clip_are_skipped(lerobot_store: Path, exported: Export, tmp_path: Path):
    def drop_clip(rows: list[dict]) -> None:
        rows[0]["clip_key"] = None

    store = rewrite_segments(lerobot_store, tmp_path, drop_clip)
    summary = export_lerobot(store, tmp_path / "out", partitions=[PARTS[0]])
    n_part = sum(1 for s in segment_rows(exported.store) if (s["date"], s["station"]) == PARTS[0])
    assert summary["skipped"]["no_clip"] == 1 and summary["episodes"] == n_part - 1
    assert summary["partitions"] == [PARTS[0]]


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [("target_fps", 5.0, "mixed target rates"), ("codes", [0, 1, 2], "rerun segments")],
)
def test_refuses_inconsistent_segments(lerobot_store: Path, tmp_path: Path, field, value, match):
    def tamper(rows: list[dict]) -> None:
        rows[0][field] = value

    store = rewrite_segments(lerobot_store, tmp_path, tamper)
    with pytest.raises(ExportError, match=match) as err:
        export_lerobot(store, tmp_path / "out")
    assert isinstance(err.value, LapsError)
    assert not (tmp_path / "out").exists()


def test_a_clip_shorter_than_its_segment_is_refused(lerobot_store: Path, tmp_path: Path):
    shutil.copytree(lerobot_store, tmp_path / "store")
    store = LocalStorage(tmp_path / "store")
    seg = segment_rows(store)[1]  # the second episode: the first file is open when it fails
    clip = Path(store.uri(seg["clip_key"]))
    frames = [img for _, img in decode(clip)][:3]
    encode_frames(iter(frames), clip, fps=seg["fps"])
    with pytest.raises(ExportError, match="ended after 3 frames"):
        export_lerobot(store, tmp_path / "out" / "laps")
    assert list((tmp_path / "out").iterdir()) == []  # the temp folder is gone


# --- the consumer: lerobot's own LeRobotDataset in .venv-lerobot --------------------------------
@pytest.fixture(scope="module")
def lerobot_python() -> Path:
    python = LEROBOT_VENV / "bin" / "python"
    if not (LEROBOT_VENV / ".complete").is_file():
        if os.environ.get("CI"):
            pytest.fail(
                f"{LEROBOT_VENV} is not complete in CI: run tests/lerobot_env/make-env.sh first"
            )
        pytest.skip(f"{LEROBOT_VENV}/.complete missing: run tests/lerobot_env/make-env.sh")
    return python


def read_with_lerobot(python: Path, export: Export, tmp_path: Path) -> tuple[dict, Any]:
    segs = segment_rows(export.store)
    expect = {
        "fps": 10,
        "task": "assembly work",
        "episodes": [{"segment_id": s["segment_id"], "codes": s["codes"]} for s in segs],
    }
    (tmp_path / "expect.json").write_text(json.dumps(expect))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run(
        [str(python), str(READER), str(export.out), "--expect", str(tmp_path / "expect.json"),
         "--frames-out", str(tmp_path / "frames.npz")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert proc.stdout.strip(), proc.stderr[-4000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert proc.returncode == 0 and summary["ok"], (summary["problems"], proc.stderr[-2000:])
    return summary, np.load(tmp_path / "frames.npz")


def check_consumer(summary: dict, frames: Any, export: Export) -> None:
    segs = segment_rows(export.store)
    total = sum(len(s["codes"]) for s in segs)
    assert summary["len"] == total and summary["num_episodes"] == len(segs)
    assert summary["fps"] == 10 and summary["video_backend"] == "torchcodec"
    assert summary["tasks"] == ["assembly work"]
    assert summary["features"][LATENT_KEY]["names"] == ["code"]
    assert summary["versions"]["lerobot"] == "0.4.4"
    w, h = export.summary["size"]
    start = 0
    for e, (ep, seg) in enumerate(zip(summary["episodes"], segs, strict=True)):
        n = len(seg["codes"])
        assert ep["latent"] == seg["codes"] and ep["segment_id"] == seg["segment_id"]
        assert (ep["from"], ep["to"]) == (start, start + n)
        for name, k in (("first", 0), ("last", n - 1)):
            item = ep[name]
            assert (item["episode_index"], item["frame_index"], item["index"]) == (e, k, start + k)
            assert item["timestamp"] == pytest.approx(k / 10, abs=1e-6)
            assert item["latent"] == seg["codes"][k] and item["latent_dtype"] == "torch.int64"
            assert item["image_shape"] == [3, h, w] and item["image_dtype"] == "torch.float32"
            clip = [img for _, img in decode(Path(export.store.uri(seg["clip_key"])))]
            assert_is_step_frame(frames[f"ep{e}_{name}"], clip, clip_steps(seg), k)
        start += n
    assert summary["delta"]["latent_is_pad"] == [False, True, True]  # action chunk at the end
    assert summary["delta"]["latent"] == [segs[0]["codes"][-1]] * 3
    assert summary["batch"][VIDEO_KEY] == [4, 3, h, w] and summary["batch"][LATENT_KEY] == [4]


@pytest.mark.lerobot
def test_lerobot_dataset_loads_the_export(lerobot_python: Path, exported: Export, tmp_path: Path):
    summary, frames = read_with_lerobot(lerobot_python, exported, tmp_path)
    check_consumer(summary, frames, exported)


@pytest.mark.lerobot
def test_lerobot_dataset_loads_a_rotated_export(
    lerobot_python: Path, rotated: Export, tmp_path: Path
):
    summary, frames = read_with_lerobot(lerobot_python, rotated, tmp_path)
    check_consumer(summary, frames, rotated)


@pytest.mark.lerobot
def test_the_cards_lerobot_snippet_runs_as_written(
    lerobot_python: Path, lerobot_store: Path, tmp_path: Path
):
    from pipeline.publish.snippets import lerobot_snippet

    store = LocalStorage(lerobot_store)
    root = tmp_path / "publish"  # the card's ROOT; the export sits at ROOT/lerobot
    summary = export_lerobot(store, root / "lerobot")
    script = tmp_path / "card_snippet.py"
    script.write_text(lerobot_snippet(str(root)))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf")}
    proc = subprocess.run(
        [str(lerobot_python), str(script)], capture_output=True, text=True, env=env,
        cwd=tmp_path, timeout=600,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    first = segment_rows(store)[0]["codes"][0]
    expected = f"{summary['episodes']} episodes, {summary['frames']} frames at 10 fps"
    assert expected in proc.stdout
    assert f"latent action {first} task assembly work" in proc.stdout
