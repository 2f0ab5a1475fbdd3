"""The Celery executor on a real Redis: two workers share the steps of two partition runs, and
what they write equals a single-process run of the same partitions on a second data root.

Debian's ``redis-server`` (``make system-deps`` installs it when root) listens on a free
loopback port; the workers are ``celery -A assets.celery_app worker`` processes, each with its
own name; the runs are ``dagster asset materialize`` on the code location with
``LAPS_EXECUTOR=celery``, on a sqlite instance in a temporary ``DAGSTER_HOME``. Locally a
missing ``redis-server`` or ``dagster-celery`` skips; under ``CI`` it fails.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import numpy as np
import pytest
from lapstest.browser import missing
from videogen import make_video

from assets import ingest, motion
from assets.partitions import partition_key, register
from assets.resources import LapsConfig, LapsStorage
from pipeline.io.storage import open_storage
from pipeline.io.tables import read_partition

pytestmark = pytest.mark.slow

DATE = "2026-03-01"
STATIONS = ("st1", "st2")
ASSETS = "videos,chunks,tracks"
TABLES = ("videos", "chunks", "windows")
# where the file lies differs between the two data roots; everything else must be equal
ROOT_COLUMNS = ("uri", "uri_bytes")
WORKERS = ("w1", "w2")
REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(predicate, what: str, timeout: float, procs=()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"{what}: a process exited with {p.returncode} first")
        if predicate():
            return
        time.sleep(0.3)
    raise AssertionError(f"{what}: not within {timeout} s")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _land(root: Path, videos: dict[str, Path]) -> None:
    for station, video in videos.items():
        dest = root / "landing" / station / DATE / "a.mp4"
        dest.parent.mkdir(parents=True)
        shutil.copy2(video, dest)  # the same bytes and mtime (landed_at) on both roots


def _rows(root: Path, table: str, station: str) -> list[dict]:
    part = read_partition(open_storage(str(root)), table, DATE, station)
    assert part is not None, f"{table} of {station} not written under {root}"
    return [{k: v for k, v in r.items() if k not in ROOT_COLUMNS} for r in part.to_pylist()]


def _tracks(root: Path, key: str) -> dict[str, np.ndarray]:
    with np.load(root / key) as npz:
        return {k: npz[k] for k in npz.files}


@pytest.fixture
def redis_url(tmp_path: Path):
    server = shutil.which("redis-server")
    if server is None:
        missing("redis-server not found: apt-get install -y redis-server (make system-deps)")
    try:
        import dagster_celery  # noqa: F401
        import redis
    except ImportError as exc:
        missing(f"dagster-celery is not installed ({exc}): pip install -e '.[dev]'")
    port = _free_port()
    proc = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path), "--protected-mode", "yes"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1)

    def up() -> bool:
        try:
            return bool(client.ping())
        except redis.exceptions.ConnectionError:
            return False

    try:
        _wait(up, "redis-server answering PING", 20, [proc])
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        client.close()
        _stop(proc)


def test_two_celery_workers_match_a_single_process_run(redis_url, tmp_path):
    from celery import Celery

    # a different video per station (a file seen at another station would be a duplicate)
    videos = {
        s: make_video(tmp_path / "src" / f"{s}.mp4", frames=60 + 12 * i)
        for i, s in enumerate(STATIONS)
    }
    root_a, root_b, home = tmp_path / "celery", tmp_path / "single", tmp_path / "home"
    _land(root_a, videos)
    _land(root_b, videos)
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "LAPS_DATA_ROOT": str(root_a),
        "LAPS_EXECUTOR": "celery",
        "LAPS_CELERY_BROKER": redis_url,
        "OMP_NUM_THREADS": "1",
    }
    for var in ("LAPS_LANDING_URI", "LAPS_STORE_URI", "LAPS_CATALOG", "LAPS_CELERY_BACKEND"):
        env.pop(var, None)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        register(instance, [(DATE, s) for s in STATIONS])

    logs = {name: (tmp_path / f"{name}.log").open("wb") for name in WORKERS}
    workers = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "assets.celery_app",
                "worker",
                "-n",
                f"{name}@%h",
                "--concurrency",
                "1",
                "--loglevel",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=REPO,
            env=env,
            stdout=logs[name],
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        for name in WORKERS
    ]
    control = Celery(broker=redis_url, backend=redis_url)
    try:
        # two partition runs at once, started with the workers: each step is a Celery task that
        # waits on the broker until a worker takes it; a worker takes one at a time
        runs = [
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "dagster",
                    "asset",
                    "materialize",
                    "-m",
                    "assets.definitions",
                    "--select",
                    ASSETS,
                    "--partition",
                    str(partition_key(DATE, station)),
                ],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
            for station in STATIONS
        ]
        for proc, station in zip(runs, STATIONS, strict=True):
            try:
                out, _ = proc.communicate(timeout=300)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, _ = proc.communicate()
            tail = b"".join((tmp_path / f"{w}.log").read_bytes()[-1500:] for w in WORKERS)
            assert proc.returncode == 0, (
                f"run of {station} failed:\n{out.decode()[-3000:]}\nworkers:\n{tail.decode()}"
            )
        stats = control.control.inspect(timeout=5).stats() or {}
    finally:
        for w in workers:
            _stop(w)
        for f in logs.values():
            f.close()
        control.close()

    # every step ran in a Celery worker, and both workers ran some
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs_done = instance.get_runs()
        assert len(runs_done) == len(STATIONS)
        by_step: dict[tuple[str, str], str] = {}
        for run in runs_done:
            assert run.status == dg.DagsterRunStatus.SUCCESS
            for entry in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT):
                meta = entry.dagster_event.engine_event_data.metadata
                if "Celery worker" in meta:
                    by_step[(run.run_id, entry.step_key)] = meta["Celery worker"].value
    assert len(by_step) == len(STATIONS) * len(TABLES), by_step  # 3 steps per run
    assert {w.split("@")[0] for w in by_step.values()} == set(WORKERS), by_step
    done = {n.split("@")[0]: s["total"].get("execute_plan", 0) for n, s in stats.items()}
    assert sum(done.values()) == len(by_step) and all(done[w] > 0 for w in WORKERS), stats

    # the same partitions in one process, on the second data root
    with dg.DagsterInstance.ephemeral() as instance:
        register(instance, [(DATE, s) for s in STATIONS])
        for station in STATIONS:
            result = dg.materialize(
                [ingest.videos, ingest.chunks, motion.tracks],
                instance=instance,
                partition_key=str(partition_key(DATE, station)),
                resources={
                    "storage": LapsStorage(data_root=str(root_b)),
                    "laps_config": LapsConfig(),
                },
            )
            assert result.success

    for station in STATIONS:
        for table in TABLES:
            rows = _rows(root_a, table, station)
            assert rows, f"no {table} rows for {station}"
            assert rows == _rows(root_b, table, station), (table, station)
        for row in _rows(root_a, "windows", station):
            a, b = _tracks(root_a, row["tracks_key"]), _tracks(root_b, row["tracks_key"])
            assert a.keys() == b.keys()
            for k in a:
                np.testing.assert_array_equal(a[k], b[k], err_msg=f"{row['tracks_key']}:{k}")
