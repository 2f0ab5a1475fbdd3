"""Services bind to loopback by default and take credentials from the environment only: the
Makefile's UI, the compose file's published ports, the test S3 server, the UI test's server."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _make_recipe(target: str) -> str:
    text = (REPO / "Makefile").read_text()
    m = re.search(rf"^{re.escape(target)}:.*\n((?:\t.*\n?)+)", text, re.MULTILINE)
    assert m, f"no {target} target in the Makefile"
    return m.group(1)


def _host_flag(argv: list[str]) -> str | None:
    for i, arg in enumerate(argv):
        if arg in ("-h", "--host") and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--host="):
            return arg.split("=", 1)[1]
    return None


def test_make_ui_serves_on_loopback_only() -> None:
    argv = shlex.split(_make_recipe("ui"))
    assert "dev" in argv and _host_flag(argv) in LOOPBACK  # dagster dev's default is 127.0.0.1
    assert "0.0.0.0" not in argv


def test_compose_publishes_ports_on_loopback_only() -> None:
    compose = yaml.safe_load((REPO / "docker" / "docker-compose.yml").read_text())
    published = 0
    for name, service in compose["services"].items():
        for port in service.get("ports", []):
            spec = (
                port if isinstance(port, str) else f"{port.get('host_ip', '')}:{port['published']}"
            )
            host_ip = spec.rsplit(":", 2)[0] if spec.count(":") == 2 else ""
            assert host_ip in LOOPBACK, f"{name} publishes {spec!r} on every interface"
            published += 1
    assert published >= 1  # the UI
    assert "ports" not in compose["services"]["postgres"]
    assert "ports" not in compose["services"]["redis"]


def test_compose_holds_no_credentials() -> None:
    compose = yaml.safe_load((REPO / "docker" / "docker-compose.yml").read_text())
    for name, service in compose["services"].items():
        env = service.get("environment", {})
        for key, value in env.items() if isinstance(env, dict) else ():
            if re.search(r"PASSWORD|SECRET|TOKEN|KEY", key):
                assert str(value).startswith("${"), f"{name}: {key} is written in the file"


def test_the_image_binds_all_interfaces_only_inside_its_container() -> None:
    # 0.0.0.0 inside a container is reachable only through a published port (loopback above)
    dockerfile = (REPO / "docker" / "Dockerfile").read_text()
    assert "127.0.0.1:3000:3000" in dockerfile  # the comment tells how to publish it


def test_test_servers_bind_loopback() -> None:
    s3server = (REPO / "tests" / "s3server.py").read_text()
    assert "-ip.bind=127.0.0.1" in s3server and "0.0.0.0" not in s3server
    ui = (REPO / "tests" / "assets" / "ui" / "conftest.py").read_text()
    assert "0.0.0.0" not in ui and "127.0.0.1" in ui


def test_the_core_starts_no_server() -> None:
    pattern = re.compile(r"socket\.socket|\.bind\(|serve_forever|HTTPServer|uvicorn")
    for package in ("pipeline", "models", "assets"):
        for path in (REPO / package).rglob("*.py"):
            assert not pattern.search(path.read_text()), f"{path} starts a server"
