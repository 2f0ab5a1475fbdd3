"""Pure unit tests: keys, URIs, settings, and S3 error translation with a stubbed boto3 client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pyarrow.fs as pafs
import pytest
from botocore.stub import Stubber

from pipeline.errors import StorageAccessError, StorageKeyError
from pipeline.io.storage import LocalStorage, S3Settings, S3Storage, join_key, open_storage


def test_join_key_normalizes_and_rejects_relative_parts() -> None:
    assert join_key("tables/", "/clips", "", "a.parquet") == "tables/clips/a.parquet"
    assert join_key() == ""
    with pytest.raises(ValueError, match=r"'\.\.'"):
        join_key("a", "../b")


def test_open_storage_dispatch(tmp_path: Path) -> None:
    local = open_storage(tmp_path / "new" / "root")
    assert isinstance(local, LocalStorage)
    assert Path(local.root).is_dir()
    assert isinstance(open_storage(f"file://{tmp_path}/f"), LocalStorage)
    s3 = open_storage("s3://my-bucket/some/prefix/", s3=S3Settings())
    assert isinstance(s3, S3Storage)
    assert (s3.bucket, s3.prefix, s3.root) == (
        "my-bucket",
        "some/prefix",
        "s3://my-bucket/some/prefix",
    )
    assert s3.uri("k.json") == "s3://my-bucket/some/prefix/k.json"
    assert open_storage("s3://my-bucket", s3=S3Settings()).uri("k") == "s3://my-bucket/k"


@pytest.mark.parametrize(
    "uri", ["s3://Bad_Bucket/x", "s3://", "s3://ok-bucket/../x", "gs://b/x", ""]
)
def test_bad_uris_raise_value_error_with_the_value(uri: str) -> None:
    with pytest.raises(ValueError) as info:
        open_storage(uri, s3=S3Settings())
    assert repr(uri) in str(info.value)


def test_local_root_that_is_a_file_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(ValueError, match="not a folder"):
        open_storage(tmp_path / "f")


def test_settings_from_env_precedence_and_secrets_hidden() -> None:
    env = {
        "AWS_ENDPOINT_URL": "http://aws-style:1",
        "LAPS_S3_ENDPOINT_URL": "http://127.0.0.1:8333/",
        "AWS_ACCESS_KEY_ID": "AK",
        "AWS_SECRET_ACCESS_KEY": "very-secret",
        "AWS_DEFAULT_REGION": "eu-west-1",
    }
    s = S3Settings.from_env(env)
    assert s.endpoint_url == "http://127.0.0.1:8333"
    assert s.region == "eu-west-1"
    assert "very-secret" not in repr(s)
    arrow = s.arrow_kwargs()
    assert isinstance(arrow.pop("retry_strategy"), pafs.AwsStandardS3RetryStrategy)
    assert arrow == {
        "region": "eu-west-1", "endpoint_override": "127.0.0.1:8333", "scheme": "http",
        "access_key": "AK", "secret_key": "very-secret",
        "connect_timeout": 5.0, "request_timeout": 60.0,
    }  # fmt: skip
    assert S3Settings.from_env({"AWS_REGION": "x", "AWS_DEFAULT_REGION": "y"}).region == "x"
    empty = S3Settings.from_env({})
    assert (empty.endpoint_url, empty.access_key_id, empty.region) == (None, None, "us-east-1")
    assert empty.client_kwargs() == {"region_name": "us-east-1"}
    with pytest.raises(ValueError, match="ftp://x"):
        S3Settings(endpoint_url="ftp://x")


def stubbed_storage(uri: str = "s3://my-bucket/pre") -> tuple[S3Storage, Stubber]:
    """An S3Storage whose boto3 client answers only what the Stubber queues."""
    client = boto3.session.Session().client(
        "s3", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
        aws_access_key_id="a", aws_secret_access_key="b",
    )  # fmt: skip
    return S3Storage(uri, settings=S3Settings(), client=client), Stubber(client)


def queue_error(stub: Stubber, op: str, code: str, status: int, params: dict[str, Any]) -> None:
    stub.add_client_error(
        op, service_error_code=code, http_status_code=status, expected_params=params
    )


def test_missing_bucket_is_a_clear_error_not_a_missing_key() -> None:
    store, stub = stubbed_storage()
    queue_error(stub, "get_object", "NoSuchBucket", 404, {"Bucket": "my-bucket", "Key": "pre/k"})
    with stub, pytest.raises(StorageAccessError) as info:
        store.read_bytes("k")
    assert not isinstance(info.value, StorageKeyError)
    assert info.value.code == "NoSuchBucket"
    assert "bucket does not exist" in str(info.value)
    assert "s3://my-bucket/pre/k" in str(info.value)


def test_head_404_on_missing_bucket_is_disambiguated() -> None:
    store, stub = stubbed_storage()
    queue_error(stub, "head_object", "404", 404, {"Bucket": "my-bucket", "Key": "pre/k"})
    queue_error(stub, "head_bucket", "404", 404, {"Bucket": "my-bucket"})
    with stub, pytest.raises(StorageAccessError, match="bucket does not exist"):
        store.exists("k")


def test_missing_key_in_existing_bucket_is_false_and_checks_bucket_once() -> None:
    store, stub = stubbed_storage()
    for key in ("pre/a", "pre/b"):
        queue_error(stub, "head_object", "404", 404, {"Bucket": "my-bucket", "Key": key})
        if key == "pre/a":
            stub.add_response("head_bucket", {}, {"Bucket": "my-bucket"})
    with stub:
        assert store.exists("a") is False
        assert store.exists("b") is False
        stub.assert_no_pending_responses()


def test_access_denied_is_reported_with_code_and_uri() -> None:
    store, stub = stubbed_storage()
    queue_error(
        stub,
        "put_object",
        "AccessDenied",
        403,
        {"Bucket": "my-bucket", "Key": "pre/x", "Body": b"1"},
    )
    with stub, pytest.raises(StorageAccessError) as info:
        store.write_bytes("x", b"1")
    assert info.value.code == "AccessDenied"
    assert info.value.uri == "s3://my-bucket/pre/x"
    assert "access denied" in str(info.value)


def test_sweep_temp_removes_only_temp_files_under_the_prefix(tmp_path):
    from pipeline.io.storage import LocalStorage

    store = LocalStorage(tmp_path)
    store.write_bytes("clips/a/keep.mp4", b"clip")
    store.write_bytes("other/keep.mp4", b"clip")
    (tmp_path / "clips/a/.tmp-123-x.mp4").write_bytes(b"half")
    (tmp_path / "other/.tmp-456-y.mp4").write_bytes(b"half")  # another prefix: not ours
    assert store.sweep_temp("clips/") == ["clips/a/.tmp-123-x.mp4"]
    assert (tmp_path / "clips/a/keep.mp4").is_file()
    assert (tmp_path / "other/.tmp-456-y.mp4").is_file()
    assert store.sweep_temp("missing/") == []


def test_an_endpoint_url_with_credentials_is_refused_without_printing_them():
    from pipeline.errors import ConfigError
    from pipeline.io.storage import S3Settings
    from pipeline.io.storage.settings import redact_url

    env = {"LAPS_S3_ENDPOINT_URL": "http://alice:s3cr3t@127.0.0.1:8333/"}
    with pytest.raises(ConfigError) as err:
        S3Settings.from_env(env)
    assert "s3cr3t" not in str(err.value) and "alice" not in str(err.value)
    assert "http://***@127.0.0.1:8333/" in str(err.value)
    assert redact_url("https://host:9000/x") == "https://host:9000/x"
    assert redact_url("https://u:p@host/x") == "https://***@host/x"
    assert S3Settings.from_env({"LAPS_S3_ENDPOINT_URL": "http://127.0.0.1:8333"}).endpoint_url
