"""The production stack's files: docker/docker-compose.yml validated by a real compose
implementation (Debian's ``docker-compose``; ``config`` needs no engine), docker/workspace.yaml
pointing at the code server the image starts, docker/dagster.yaml accepted by Dagster's own
instance schema with the station limit on the tag Dagster puts on this job's runs.

Without ``docker-compose`` the compose tests skip locally and fail under CI (``make
system-deps`` installs it when run as root)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from lapstest.browser import missing

REPO = Path(__file__).resolve().parents[2]
DOCKER = REPO / "docker"
COMPOSE = DOCKER / "docker-compose.yml"
# stand-ins for docker/.env: the rendered file must carry exactly these
SECRETS = {
    "DAGSTER_PG_PASSWORD": "pg-test-value",
    "AWS_ACCESS_KEY_ID": "key-id-test-value",
    "AWS_SECRET_ACCESS_KEY": "secret-test-value",
}
SERVICES = {"postgres", "redis", "s3", "store-init", "user-code", "webserver", "daemon"}


def _compose(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("docker-compose")
    if exe is None:
        missing("docker-compose not found on PATH: apt-get install -y docker-compose")
    env_file = tmp_path / "empty.env"  # never the developer's docker/.env
    env_file.write_text("")
    base = {k: v for k, v in os.environ.items() if k not in SECRETS}
    return subprocess.run(
        [str(exe), "--env-file", str(env_file), "-f", str(COMPOSE), "config"],
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def rendered(tmp_path: Path) -> dict:
    proc = _compose(SECRETS, tmp_path)
    assert proc.returncode == 0, proc.stderr
    return yaml.safe_load(proc.stdout)


def test_compose_config_renders_the_whole_stack(rendered: dict) -> None:
    services = rendered["services"]
    assert set(services) == SERVICES
    # the webserver and the daemon load the code through the gRPC server, not themselves
    for name in ("webserver", "daemon"):
        cmd = services[name]["command"]
        assert cmd[cmd.index("-w") + 1] == "workspace.yaml", cmd
        assert services[name]["depends_on"]["user-code"] == {"condition": "service_healthy"}
    assert services["webserver"]["command"][0] == "dagster-webserver"
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    assert "command" not in services["user-code"]  # the image's: dagster code-server start
    # every Dagster process sees the same instance; the code server also the store
    for name in ("user-code", "webserver", "daemon"):
        env = services[name]["environment"]
        assert env["DAGSTER_PG_HOST"] == "postgres" and env["DAGSTER_PG_PORT"] == "5432"
        assert env["DAGSTER_PG_PASSWORD"] == SECRETS["DAGSTER_PG_PASSWORD"]
    code_env = services["user-code"]["environment"]
    assert code_env["LAPS_S3_ENDPOINT_URL"] == "http://s3:8333"
    assert code_env["LAPS_STORE_URI"].startswith("s3://laps/")
    assert code_env["AWS_SECRET_ACCESS_KEY"] == SECRETS["AWS_SECRET_ACCESS_KEY"]
    assert services["user-code"]["depends_on"]["store-init"] == {
        "condition": "service_completed_successfully"
    }
    # only the UI is published, on loopback
    published = {n: s["ports"] for n, s in services.items() if s.get("ports")}
    assert list(published) == ["webserver"]
    for port in published["webserver"]:  # 1.29 renders the short form, v2 the long one
        host_ip = port.split(":")[0] if isinstance(port, str) else port["host_ip"]
        assert host_ip == "127.0.0.1", published


def test_compose_refuses_to_render_without_the_secrets(tmp_path: Path) -> None:
    proc = _compose({}, tmp_path)
    assert proc.returncode != 0
    assert "DAGSTER_PG_PASSWORD" in proc.stderr or "AWS_" in proc.stderr, proc.stderr
    assert "set " in proc.stderr and "docker/.env" in proc.stderr


def test_workspace_points_at_the_code_server_the_image_starts() -> None:
    workspace = yaml.safe_load((DOCKER / "workspace.yaml").read_text())
    (entry,) = workspace["load_from"]
    grpc = entry["grpc_server"]
    compose = yaml.safe_load(COMPOSE.read_text())
    assert grpc["host"] in compose["services"]
    cmd_line = re.search(r"^CMD (\[.*?\])", (DOCKER / "Dockerfile").read_text(), re.M | re.S)
    assert cmd_line, "the Dockerfile has no exec-form CMD"
    cmd = json.loads(cmd_line.group(1).replace("\\\n", ""))
    assert cmd[:3] == ["dagster", "code-server", "start"]
    assert int(cmd[cmd.index("-p") + 1]) == grpc["port"]
    assert cmd[cmd.index("-m") + 1] == "assets.definitions"
    assert cmd[cmd.index("--location-name") + 1] == grpc["location_name"]


def test_production_instance_config_is_valid_and_limits_runs_per_station() -> None:
    from dagster._core.instance.config import dagster_instance_config

    from assets.definitions import defs
    from assets.partitions import partition_key

    config, _ = dagster_instance_config(str(DOCKER))  # Dagster's own schema and conflict checks
    assert config["telemetry"]["enabled"] is False
    assert "postgres" in config["storage"]
    pg = config["storage"]["postgres"]["postgres_db"]
    for field in ("hostname", "port", "username", "password", "db_name"):  # no literal values
        assert set(pg[field]) == {"env"}, pg
    assert pg["scheme"] == "postgresql+psycopg2"  # the driver dagster-postgres depends on
    assert config["run_coordinator"]["class"] == "QueuedRunCoordinator"
    runs = config["concurrency"]["runs"]
    assert runs["max_concurrent_runs"] >= 2
    (station_limit,) = runs["tag_concurrency_limits"]
    assert station_limit["limit"] == 1
    assert station_limit["value"] == {"applyLimitPerUniqueValue": True}
    assert config["concurrency"]["pools"]["default_limit"] == 1  # the gpu pool
    assert config["run_retries"]["enabled"] is True and config["run_retries"]["max_retries"] >= 1
    # the limit's key is the tag Dagster itself puts on a run of this job's partition
    job = defs.resolve_job_def("partition_job")
    tags = job.get_tags_for_partition_key(
        str(partition_key("2026-02-01", "st-a")), selected_asset_keys=None
    )
    assert tags[station_limit["key"]] == "st-a"


def test_the_top_level_instance_stays_embedded_sqlite() -> None:
    from dagster._core.instance.config import dagster_instance_config

    config, _ = dagster_instance_config(str(REPO))
    assert "storage" not in config and "run_coordinator" not in config  # the sqlite defaults
