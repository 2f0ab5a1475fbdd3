"""Credentials never reach an error or a log line, and S3 settings are checked: a planted
secret key and a password inside an endpoint URL are provoked into botocore's own error
messages (an endpoint that refuses connections), then looked for in str/repr of every error
and in every log record, botocore's and urllib3's DEBUG records included."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from s3server import free_ports

from pipeline.errors import ConfigError, StorageAccessError, StorageError
from pipeline.io.storage import S3Settings, S3Storage
from pipeline.io.storage.s3 import check_reachable, make_client
from pipeline.io.storage.settings import RETRY_ENV, redact_text


def dead_endpoint() -> str:
    """A loopback port nobody listens on (connections are refused at once)."""
    return f"http://127.0.0.1:{free_ports(1)[0]}"


def provoke(store: S3Storage, tmp_path: Path) -> list[BaseException]:
    """Every operation of the store, each expected to fail; the errors."""
    src = tmp_path / "src.bin"
    src.write_bytes(b"x" * 1000)

    def download() -> None:
        with store.local_path("a/b.bin"):
            pass

    ops: list[Callable[[], object]] = [
        lambda: store.write_bytes("a/b.bin", b"1"),
        lambda: store.read_bytes("a/b.bin"),
        lambda: store.exists("a/b.bin"),
        lambda: store.list("a/"),
        lambda: store.put_file("a/b.bin", src),
        download,
        lambda: store.delete_prefix("a/"),
        store.check_reachable,
        lambda: check_reachable(store, "--output"),
    ]
    errors = []
    for op in ops:
        with pytest.raises((StorageError, ConfigError)) as info:
            op()
        errors.append(info.value)
    return errors


def shown(err: BaseException) -> str:
    return f"{err}\n{err!r}\n{err.args!r}"


def test_a_planted_secret_key_is_in_no_error_and_no_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "planted-" + secrets.token_hex(16)
    settings = S3Settings(
        endpoint_url=dead_endpoint(), access_key_id="AKIDPLANTED", secret_access_key=secret,
        max_attempts=1, operation_attempts=2, backoff_seconds=0,
    )  # fmt: skip
    caplog.set_level(logging.DEBUG)  # botocore and urllib3 log requests at DEBUG
    errors = provoke(S3Storage("s3://some-bucket/pre", settings=settings), tmp_path)
    assert all(isinstance(e, StorageAccessError | ConfigError) for e in errors)
    assert all(settings.endpoint_url in str(e) for e in errors), "the endpoint is named"
    for err in errors:
        assert secret not in shown(err)
        assert "\n" not in str(err)
    records = caplog.records
    assert any(r.name.startswith("botocore") for r in records), "botocore's DEBUG logs captured"
    assert any(r.name == "pipeline.io.storage.s3" for r in records), "our retry warnings too"
    assert secret not in caplog.text
    assert all(secret not in r.getMessage() for r in records)
    assert secret not in repr(settings)


def test_a_password_in_a_url_that_botocore_prints_is_redacted(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A client built elsewhere (injected) whose endpoint carries user:password: botocore puts
    the URL with the password in its messages; the storage errors and logs do not."""
    password = "pw-" + secrets.token_hex(8)
    url = dead_endpoint().replace("http://", f"http://alice:{password}@")
    client = boto3.session.Session().client(
        "s3", region_name="us-east-1", endpoint_url=url, aws_access_key_id="a",
        aws_secret_access_key="b", config=boto3.session.Config(retries={"total_max_attempts": 1}),
    )  # fmt: skip
    with pytest.raises(EndpointConnectionError, match=password):  # the threat is real
        client.list_buckets()
    settings = S3Settings(operation_attempts=2, backoff_seconds=0)
    store = S3Storage("s3://some-bucket/pre", settings=settings, client=client)
    caplog.set_level(logging.INFO, logger="pipeline")  # the retry notes
    for op in (lambda: store.read_bytes("k"), lambda: store.list(), lambda: store.exists("k")):
        with pytest.raises(StorageAccessError) as info:
            op()
        assert password not in shown(info.value) and "alice" not in str(info.value)
        assert "http://***@127.0.0.1:" in str(info.value)
    assert caplog.records and password not in caplog.text and "alice" not in caplog.text


def test_endpoint_urls_come_only_from_checked_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore would read AWS_ENDPOINT_URL_S3 (and ~/.aws/config) itself, password included;
    our clients ignore those, and S3Settings.from_env refuses such a URL without printing it."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://alice:hunter2@127.0.0.1:1")
    plain = boto3.session.Session().client("s3", region_name="us-east-1")
    assert "hunter2" in plain.meta.endpoint_url  # what a plain client would do
    assert "hunter2" not in make_client(S3Settings()).meta.endpoint_url
    with pytest.raises(ConfigError) as info:
        S3Settings.from_env()
    assert "hunter2" not in str(info.value) and "alice" not in str(info.value)
    assert "http://***@127.0.0.1:1" in str(info.value)
    with pytest.raises(ValueError) as direct:
        S3Settings(endpoint_url="http://alice:hunter2@127.0.0.1:1")
    assert "hunter2" not in str(direct.value) and "carries credentials" in str(direct.value)


def test_retry_settings_from_the_environment_reach_the_clients() -> None:
    env = {
        "LAPS_S3_ENDPOINT_URL": "http://127.0.0.1:8333", "LAPS_S3_MAX_ATTEMPTS": "7",
        "LAPS_S3_RETRY_MODE": "adaptive", "LAPS_S3_OPERATION_ATTEMPTS": "4",
        "LAPS_S3_BACKOFF_SECONDS": "0.25", "LAPS_S3_CONNECT_TIMEOUT": "1.5",
        "LAPS_S3_READ_TIMEOUT": "20", "LAPS_S3_PROBE_TIMEOUT": "2",
    }  # fmt: skip
    s = S3Settings.from_env(env)
    assert (s.max_attempts, s.retry_mode, s.operation_attempts) == (7, "adaptive", 4)
    assert [s.backoff(n) for n in (1, 2, 3, 7)] == [0.25, 0.5, 1.0, 10.0]  # doubling, capped
    config = make_client(s).meta.config
    assert config.retries == {"total_max_attempts": 7, "mode": "adaptive"}
    assert (config.connect_timeout, config.read_timeout) == (1.5, 20)
    probe = make_client(s, probe=True).meta.config
    assert probe.retries["total_max_attempts"] == 1
    assert (probe.connect_timeout, probe.read_timeout) == (2, 2)
    arrow = s.arrow_kwargs()
    assert (arrow["connect_timeout"], arrow["request_timeout"]) == (1.5, 20)
    defaults = S3Settings.from_env({})
    assert (defaults.max_attempts, defaults.retry_mode, defaults.operation_attempts) == (
        5, "standard", 3,
    )  # fmt: skip
    assert set(RETRY_ENV.values()) == {k for k in env if k != "LAPS_S3_ENDPOINT_URL"}


@pytest.mark.parametrize(
    ("var", "value", "message"),
    [
        (
            "LAPS_S3_MAX_ATTEMPTS",
            "lots",
            "LAPS_S3_MAX_ATTEMPTS='lots': Input should be a valid int",
        ),
        ("LAPS_S3_MAX_ATTEMPTS", "0", "LAPS_S3_MAX_ATTEMPTS='0': Input should be greater than"),
        ("LAPS_S3_RETRY_MODE", "legacy", "LAPS_S3_RETRY_MODE='legacy': Input should be 'standard'"),
        ("LAPS_S3_READ_TIMEOUT", "-1", "LAPS_S3_READ_TIMEOUT='-1': Input should be greater than 0"),
        ("LAPS_S3_ENDPOINT_URL", "ftp://host", "LAPS_S3_ENDPOINT_URL='ftp://host': endpoint_url"),
    ],
)
def test_bad_settings_are_one_line_naming_the_variable(var: str, value: str, message: str) -> None:
    secret = secrets.token_hex(12)
    with pytest.raises(ConfigError) as info:
        S3Settings.from_env({var: value, "AWS_SECRET_ACCESS_KEY": secret})
    assert str(info.value).startswith("S3 settings: " + message)
    assert "\n" not in str(info.value) and secret not in str(info.value)


def test_redact_text_scrubs_url_credentials_and_secrets() -> None:
    text = 'Could not connect to "http://u:p%40ss@host:9000/b?x=1" with key s3cr3t (s3://b/k@1)'
    out = redact_text(text, ["s3cr3t", "p@ss"])
    assert out == 'Could not connect to "http://***@host:9000/b?x=1" with key *** (s3://b/k@1)'
    assert redact_text("https://user@host/x") == "https://***@host/x"
    assert S3Settings(secret_access_key="abcd1234").redact("key abcd1234!") == "key ***!"
