"""The command line with S3 stores that cannot be used: one line on stderr, exit code 2, no
traceback, no credential (even at -vv, where botocore logs every request), before any work."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from s3server import free_ports

from pipeline.cli.main import main

LAPS = str(Path(sys.executable).parent / "laps")


def laps(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "LAPS_"))}
    return subprocess.run(
        [LAPS, *args], env={**clean, **env}, cwd=cwd, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip


def dead_store_env(tmp_path: Path, secret: str) -> dict[str, str]:
    return {
        "LAPS_DATA_ROOT": str(tmp_path / "data"),
        "LAPS_STORE_URI": "s3://laps-test/store",
        "LAPS_S3_ENDPOINT_URL": f"http://127.0.0.1:{free_ports(1)[0]}",
        "AWS_ACCESS_KEY_ID": "AKIDPLANTED",
        "AWS_SECRET_ACCESS_KEY": secret,
        "LAPS_S3_MAX_ATTEMPTS": "1",
        "LAPS_S3_OPERATION_ATTEMPTS": "2",
        "LAPS_S3_BACKOFF_SECONDS": "0",
    }


@pytest.mark.slow  # two runs of the real `laps` executable (its own stderr and logging)
def test_an_unreachable_store_is_one_line_and_exit_2_without_secrets(tmp_path: Path) -> None:
    secret = "planted-" + secrets.token_hex(16)
    env = dead_store_env(tmp_path, secret)
    done = laps(["query", "select count(*) from videos"], env, tmp_path)
    assert done.returncode == 2, done.stderr
    line = done.stderr.strip()
    assert "\n" not in line, "one line: no traceback, no retry notes below -v"
    # checked before any work: one short request, not every retry of the first listing
    assert line.startswith("error: LAPS_STORE_URI s3://laps-test/store: S3 endpoint http://127.0.0.1:")
    assert "is unreachable" in line and line.endswith("(EndpointConnectionError)")
    assert secret not in done.stdout + done.stderr
    verbose = laps(["-vv", "query", "select count(*) from videos"], env, tmp_path)
    assert verbose.returncode == 2
    assert verbose.stderr.strip().splitlines()[-1] == line
    assert "botocore" in verbose.stderr, "-vv shows botocore's DEBUG logs: they are looked at"
    assert secret not in verbose.stdout + verbose.stderr


def invoke(args: list[str], env: dict[str, str], monkeypatch):  # noqa: ANN001, ANN201
    for name in [k for k in os.environ if k.startswith(("AWS_", "LAPS_"))]:
        monkeypatch.delenv(name)
    return CliRunner().invoke(main, args, env=env)


def test_an_endpoint_url_with_a_password_is_refused_without_printing_it(
    tmp_path: Path, monkeypatch, caplog
) -> None:  # fmt: skip
    env = dead_store_env(tmp_path, "x")
    env["LAPS_S3_ENDPOINT_URL"] = env["LAPS_S3_ENDPOINT_URL"].replace("//", "//alice:hunter2@")
    result = invoke(["query", "select 1"], env, monkeypatch)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: the S3 endpoint URL http://***@127.0.0.1:")
    assert result.stderr.count("\n") == 1
    assert "hunter2" not in result.output + caplog.text and "alice" not in result.stderr


def test_bad_retry_settings_are_one_line_naming_the_variable(tmp_path: Path, monkeypatch) -> None:
    env = dead_store_env(tmp_path, "x") | {"LAPS_S3_MAX_ATTEMPTS": "many"}
    result = invoke(["query", "select 1"], env, monkeypatch)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: S3 settings: LAPS_S3_MAX_ATTEMPTS='many': Input should be a valid integer, "
        "unable to parse string as an integer\n"
    )


def test_laps_segment_refuses_s3_locations_in_one_line(tmp_path: Path) -> None:
    """laps segment works on local folders; `--output s3://...` once made a folder `s3:`."""
    (tmp_path / "in").mkdir()
    for option in ("--output", "--input"):
        args = {"--input": str(tmp_path / "in"), "--output": str(tmp_path / "out")}
        args[option] = "s3://laps-test/some/prefix"
        result = CliRunner().invoke(
            main, ["segment", "--input", args["--input"], "--output", args["--output"]]
        )
        assert result.exit_code == 2, result.output
        if option == "--output":
            assert result.output.strip() == (
                "error: --output s3://laps-test/some/prefix: laps segment reads and writes local "
                "folders; for an S3 landing or store run the Dagster assets (LAPS_LANDING_URI, "
                "LAPS_STORE_URI)"
            )
        else:  # click refuses a folder that does not exist before our check runs
            assert "Invalid value for '--input'" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"], "no folder was created"
    assert not Path("s3:").exists()
