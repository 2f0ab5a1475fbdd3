"""The production instance for real: Debian's PostgreSQL on a loopback port, a DAGSTER_HOME with
docker/dagster.yaml (connection from DAGSTER_PG_* only), the user-code gRPC server the image
runs (``dagster code-server start``), ``dagster-daemon run`` and ``dagster-webserver`` reaching
it through docker/workspace.yaml (host and port pointed at loopback). Runs are submitted through
the webserver's GraphQL API over HTTP:

- one partition run of ``partition_job`` (the ``videos`` asset of a partition with one tiny
  video): QUEUED first (the QueuedRunCoordinator), then started and successful;
- one backfill over two dates x one station: both runs succeed, never at the same time (the
  per-station tag limit), while a run of another station launched meanwhile is dequeued ahead
  of the station's waiting run (one busy station does not starve the others).

Without PostgreSQL's binaries (``make system-deps``) the test skips locally and fails under CI.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from lapstest.browser import missing
from videogen import make_video

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
BIN = Path(sys.executable).parent
READY_S = 240.0  # three processes load the code location on 2 shared cores
RUN_S = 300.0
STATION, OTHER = "pg-st1", "pg-st2"
DATES = ("2026-03-01", "2026-03-02")
LOCATION = {"repositoryLocationName": "laps", "repositoryName": "__repository__"}
VIDEOS = [{"path": ["videos"]}]  # the cheap asset selection: probe and hash the landed video

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _postgres_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not found:
        missing("PostgreSQL not found (/usr/lib/postgresql/*/bin): apt-get install postgresql")
    return Path(found[-1]).parent


def _as_postgres(argv: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run it as the ``postgres`` system user."""
    if os.geteuid() != 0:
        return argv
    runuser = shutil.which("runuser")
    if runuser is None:
        missing("running as root without runuser: cannot start PostgreSQL as another user")
    return [runuser, "-u", "postgres", "--", *argv]


@dataclass(frozen=True)
class Postgres:
    port: int
    user: str
    password: str
    db: str


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    """A fresh cluster in a temp folder on 127.0.0.1 (password auth), stopped afterwards."""
    bin_dir = _postgres_bin()
    # not under pytest's tmp_path: its parents are private to root and postgres must read it
    root = Path(tempfile.mkdtemp(prefix="laps-pg-"))
    password = secrets.token_urlsafe(16)
    pwfile = root / "pw"
    pwfile.write_text(password)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(pwfile, "postgres")
    data, sockets, log = root / "data", root / "sock", root / "postgres.log"
    port = _free_port()
    initdb = [str(bin_dir / "initdb"), "-D", str(data), "-U", "dagster", f"--pwfile={pwfile}",
              "--auth=scram-sha-256", "-E", "UTF8", "--no-sync"]  # fmt: skip
    subprocess.run(_as_postgres(initdb), check=True, capture_output=True, timeout=120)
    (root / "sock").mkdir()
    if os.geteuid() == 0:
        shutil.chown(sockets, "postgres")
    opts = f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={sockets}"
    opts += " -c fsync=off"
    pg_ctl = str(bin_dir / "pg_ctl")
    subprocess.run(
        _as_postgres([pg_ctl, "-D", str(data), "-o", opts, "-l", str(log), "-w", "start"]),
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    try:
        createdb = [str(bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "dagster",
                    "dagster_test"]  # fmt: skip
        subprocess.run(
            createdb, check=True, capture_output=True, timeout=60,
            env={**os.environ, "PGPASSWORD": password},
        )  # fmt: skip
        yield Postgres(port=port, user="dagster", password=password, db="dagster_test")
    finally:
        subprocess.run(
            _as_postgres([pg_ctl, "-D", str(data), "-m", "fast", "-w", "stop"]),
            capture_output=True, timeout=120, check=False,
        )  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the process group, SIGKILL what is left after a grace period."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=30)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


class GraphQL:
    def __init__(self, base_url: str) -> None:
        self.url = f"{base_url}/graphql"

    def __call__(self, query: str, **variables: object) -> dict:
        body = json.dumps({"query": query, "variables": variables}).encode()
        req = urllib.request.Request(self.url, body, {"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as resp:
            out = json.loads(resp.read())
        assert not out.get("errors"), out["errors"]
        return out["data"]


@dataclass
class Stack:
    gql: GraphQL
    home: Path
    logs: list[Path]
    env: dict[str, str]  # the processes' environment (the instance's DAGSTER_PG_*)


@pytest.fixture
def stack(postgres: Postgres, tmp_path: Path) -> Iterator[Stack]:
    """Code server, daemon and webserver on the Postgres instance, as docker-compose.yml runs
    them; landed videos for the test's partitions, registered as dynamic partitions."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(DOCKER / "dagster.yaml", home / "dagster.yaml")
    data = tmp_path / "data"
    for date in DATES:
        for station in (STATION, OTHER):
            make_video(data / "landing" / station / date / "cam.mp4", frames=30)
    grpc_port, web_port = _free_port(), _free_port()
    workspace = yaml.safe_load((DOCKER / "workspace.yaml").read_text())
    workspace["load_from"][0]["grpc_server"].update(host="127.0.0.1", port=grpc_port)
    (tmp_path / "workspace.yaml").write_text(yaml.safe_dump(workspace))
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(postgres.port),
        "DAGSTER_PG_USER": postgres.user,
        "DAGSTER_PG_PASSWORD": postgres.password,
        "DAGSTER_PG_DB": postgres.db,
        "LAPS_DATA_ROOT": str(data),
        "OMP_NUM_THREADS": "1",
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    env.pop("LAPS_VLM_API_KEY", None)

    import dagster as dg  # imported here: collecting this folder must stay cheap

    with pytest.MonkeyPatch.context() as mp:
        for key in ("DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_USER",
                    "DAGSTER_PG_PASSWORD", "DAGSTER_PG_DB"):  # fmt: skip
            mp.setenv(key, env[key])
        with dg.DagsterInstance.from_config(str(home)) as instance:  # creates the schema
            instance.add_dynamic_partitions("date", list(DATES))
            instance.add_dynamic_partitions("station", [STATION, OTHER])

    # the image's command, on loopback; the webserver's and the daemon's from docker-compose.yml
    dockerfile_cmd = [
        "code-server", "start", "-h", "127.0.0.1", "-p", str(grpc_port),
        "-m", "assets.definitions", "-a", "defs", "--location-name", "laps",
    ]  # fmt: skip
    web_cmd = [str(BIN / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(web_port),
               "-w", str(tmp_path / "workspace.yaml")]  # fmt: skip
    commands = {
        "code-server": [str(BIN / "dagster"), *dockerfile_cmd],
        "daemon": [str(BIN / "dagster-daemon"), "run", "-w", str(tmp_path / "workspace.yaml")],
        "webserver": web_cmd,
    }
    procs, logs = [], []
    try:
        for name, cmd in commands.items():
            log = tmp_path / f"{name}.log"
            logs.append(log)
            with log.open("wb") as out:
                procs.append(subprocess.Popen(
                    cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=out,
                    stderr=subprocess.STDOUT, start_new_session=True,
                ))  # fmt: skip
            if name == "code-server":  # what docker-compose.yml's healthcheck waits for
                _wait_grpc(grpc_port, procs[0], logs)
        gql = GraphQL(f"http://127.0.0.1:{web_port}")
        _wait_loaded(gql, procs, logs)
        yield Stack(gql=gql, home=home, logs=logs, env=env)
    finally:
        for proc in reversed(procs):
            _stop(proc)


def _tails(logs: list[Path]) -> str:
    return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}" for p in logs)


def _wait_grpc(port: int, proc: subprocess.Popen[bytes], logs: list[Path]) -> None:
    check = [str(BIN / "dagster"), "api", "grpc-health-check", "-h", "127.0.0.1", "-p", str(port)]
    deadline = time.monotonic() + READY_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the code server exited early\n{_tails(logs)}"
        if subprocess.run(check, capture_output=True, timeout=60, check=False).returncode == 0:
            return
        time.sleep(1.0)
    pytest.fail(f"the code server did not answer within {READY_S:.0f} s\n{_tails(logs)}")


WORKSPACE_Q = """{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus
  locationOrLoadError { __typename ... on PythonError { message } } } } }
  instance { daemonHealth { allDaemonStatuses { daemonType healthy } } } }"""


def _wait_loaded(gql: GraphQL, procs: list[subprocess.Popen[bytes]], logs: list[Path]) -> None:
    """Until the webserver serves the loaded code location and the daemons report healthy."""
    deadline, last = time.monotonic() + READY_S, "no answer yet"
    while time.monotonic() < deadline:
        dead = [p.args[0] for p in procs if p.poll() is not None]
        assert not dead, f"{dead} exited early\n{_tails(logs)}"
        try:
            data = gql(WORKSPACE_Q)
        except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
            last = repr(exc)
        else:
            entries = data["workspaceOrError"]["locationEntries"]
            daemons = data["instance"]["daemonHealth"]["allDaemonStatuses"]
            loaded = [e for e in entries if e["locationOrLoadError"]]
            wanted = {"QUEUED_RUN_COORDINATOR", "BACKFILL"}
            healthy = {d["daemonType"] for d in daemons if d["healthy"]}
            if loaded and loaded[0]["locationOrLoadError"]["__typename"] == "PythonError":
                pytest.fail(f"code location failed to load: {loaded[0]}\n{_tails(logs)}")
            if loaded and wanted <= healthy:
                return
            last = json.dumps(data)[:500]
        time.sleep(1.0)
    pytest.fail(f"stack not ready within {READY_S:.0f} s ({last})\n{_tails(logs)}")


PARTITION_TAGS_Q = """query($name: String!) { partitionSetOrError(
  repositorySelector: {repositoryLocationName: "laps", repositoryName: "__repository__"},
  partitionSetName: "partition_job_partition_set") { __typename
  ... on PartitionSet { partition(partitionName: $name) { tagsOrError { __typename
    ... on PartitionTags { results { key value } } ... on PythonError { message } } } } } }"""

LAUNCH_RUN = """mutation($params: ExecutionParams!) { launchRun(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId status } }
  ... on PythonError { message } ... on InvalidSubsetError { message }
  ... on RunConfigValidationInvalid { errors { message } } } }"""

LAUNCH_BACKFILL = """mutation($params: LaunchBackfillParams!) {
  launchPartitionBackfill(backfillParams: $params) { __typename
  ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""

BACKFILL_Q = """query($id: String!) { partitionBackfillOrError(backfillId: $id) { __typename
  ... on PartitionBackfill { status runs { runId status tags { key value } } } } }"""

RUNS_Q = """query($ids: [String!]) { runsOrError(filter: {runIds: $ids}) {
  ... on Runs { results { runId status startTime endTime tags { key value } } } } }"""


def _partition(date: str, station: str) -> str:
    return f"{date}|{station}"  # MultiPartitionKey's string: dimensions joined in name order


def _launch_videos_run(gql: GraphQL, date: str, station: str) -> str:
    """launchRun of partition_job's ``videos`` for one partition, with the tags the launchpad
    sends: the partition set's own tags for that partition (from the code server)."""
    tags = gql(PARTITION_TAGS_Q, name=_partition(date, station))["partitionSetOrError"]
    tags = tags["partition"]["tagsOrError"]
    assert tags["__typename"] == "PartitionTags", tags
    params = {
        "selector": {**LOCATION, "jobName": "partition_job", "assetSelection": VIDEOS},
        "runConfigData": "{}",
        "executionMetadata": {"tags": tags["results"]},
    }
    out = gql(LAUNCH_RUN, params=params)["launchRun"]
    assert out["__typename"] == "LaunchRunSuccess", out
    return out["run"]["runId"]


def _runs(gql: GraphQL, ids: list[str]) -> dict[str, dict]:
    return {r["runId"]: r for r in gql(RUNS_Q, ids=ids)["runsOrError"]["results"]}


def _wait_runs(stack: Stack, ids: list[str]) -> dict[str, dict]:
    deadline = time.monotonic() + RUN_S
    while time.monotonic() < deadline:
        runs = _runs(stack.gql, ids)
        if all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in runs.values()):
            return runs
        time.sleep(1.0)
    pytest.fail(f"runs not finished within {RUN_S:.0f} s: {runs}\n{_tails(stack.logs)}")


def _backfill_status(gql: GraphQL, backfill_id: str) -> str:
    return gql(BACKFILL_Q, id=backfill_id)["partitionBackfillOrError"]["status"]


def _tag(run: dict, key: str) -> str | None:
    return next((t["value"] for t in run["tags"] if t["key"] == key), None)


def _event_time(stack: Stack, run_id: str, event: str) -> float:
    """When ``event`` happened to a run, from the Postgres event log."""
    import dagster as dg

    pg_env = {k: v for k, v in stack.env.items() if k.startswith("DAGSTER_PG_")}
    with pytest.MonkeyPatch.context() as mp:
        for key, value in pg_env.items():
            mp.setenv(key, value)
        with dg.DagsterInstance.from_config(str(stack.home)) as instance:
            records = instance.all_logs(run_id, of_type=dg.DagsterEventType(event))
    assert records, f"no {event} event for run {run_id}"
    return records[0].timestamp


def test_partition_run_and_backfill_on_the_postgres_instance(stack: Stack) -> None:
    gql = stack.gql
    # 1. one partition run: queued by the coordinator, then run by the daemon to success
    run_id = _launch_videos_run(gql, DATES[0], OTHER)
    first = _runs(gql, [run_id])[run_id]
    assert first["status"] == "QUEUED", first
    assert _tag(first, "dagster/partition/station") == OTHER
    seen = {"QUEUED"}
    deadline = time.monotonic() + RUN_S
    while time.monotonic() < deadline and seen.isdisjoint({"SUCCESS", "FAILURE", "CANCELED"}):
        seen.add(_runs(gql, [run_id])[run_id]["status"])
        time.sleep(0.3)
    assert "SUCCESS" in seen, f"{seen}\n{_tails(stack.logs)}"

    # 2. a backfill of two dates x one station, as one backfill
    params = {
        "partitionNames": [_partition(d, STATION) for d in DATES],
        "assetSelection": VIDEOS,
        "title": "two nights of one station",
    }
    out = gql(LAUNCH_BACKFILL, params=params)["launchPartitionBackfill"]
    assert out["__typename"] == "LaunchBackfillSuccess", out
    backfill_id = out["backfillId"]
    deadline = time.monotonic() + RUN_S
    backfill_runs: list[dict] = []
    while time.monotonic() < deadline and len(backfill_runs) < 2:
        backfill = gql(BACKFILL_Q, id=backfill_id)["partitionBackfillOrError"]
        backfill_runs = backfill["runs"]
        time.sleep(0.5)
    assert len(backfill_runs) == 2, f"{backfill}\n{_tails(stack.logs)}"
    # the backfill's runs carry the station tag the limit keys on
    assert {_tag(r, "dagster/partition/station") for r in backfill_runs} == {STATION}
    # while the station's runs are busy (one running, one waiting), a run of another station
    unfinished = [r for r in _runs(gql, [r["runId"] for r in backfill_runs]).values()
                  if r["status"] not in ("SUCCESS", "FAILURE", "CANCELED")]  # fmt: skip
    assert len(unfinished) == 2, "the backfill's first run ended before the other station's launch"
    other_id = _launch_videos_run(gql, DATES[1], OTHER)

    ids = [r["runId"] for r in backfill_runs]
    runs = _wait_runs(stack, [*ids, other_id])
    assert all(r["status"] == "SUCCESS" for r in runs.values()), f"{runs}\n{_tails(stack.logs)}"
    deadline = time.monotonic() + RUN_S
    while (status := _backfill_status(gql, backfill_id)) != "COMPLETED_SUCCESS":
        assert status in ("REQUESTED", "COMPLETED"), status  # COMPLETED: deprecated interim
        assert time.monotonic() < deadline, f"backfill {status} after its runs succeeded"
        time.sleep(1.0)

    # the station's two runs never overlapped: the later one was dequeued after the earlier ended
    a, b = sorted(ids, key=lambda i: runs[i]["startTime"])
    assert runs[b]["startTime"] >= runs[a]["endTime"], (runs[a], runs[b])
    a_end = _event_time(stack, a, "PIPELINE_SUCCESS")
    # PIPELINE_STARTING (RUN_STARTING): the queue daemon's launch of a run it dequeued
    b_launched = _event_time(stack, b, "PIPELINE_STARTING")
    assert b_launched >= a_end
    # the other station's run, launched after both were queued, did not wait behind them
    assert _event_time(stack, other_id, "PIPELINE_STARTING") < b_launched
