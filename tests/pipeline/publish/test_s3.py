"""Publish into an S3 store (real SeaweedFS server) and read it back as a consumer would."""

from __future__ import annotations

import uuid

import pytest

from pipeline.io import keys as layout
from pipeline.io.storage import LocalStorage, S3Settings, open_storage
from pipeline.publish.checks import partition_checks
from pipeline.publish.index import read_shard_index
from pipeline.publish.stage import publish_partition

pytestmark = pytest.mark.s3


@pytest.fixture
def s3_store(s3_server, segmented_store, monkeypatch):
    """The segmented store copied under a fresh prefix of the session bucket; the AWS_*
    environment points boto3 and pyarrow (the card's snippets) at the server."""
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    settings = S3Settings(
        endpoint_url=s3_server.endpoint_url,
        region=s3_server.region,
        access_key_id=s3_server.access_key_id,
        secret_access_key=s3_server.secret_access_key,
    )
    store = open_storage(f"s3://{s3_server.bucket}/publish-{uuid.uuid4().hex[:10]}", s3=settings)
    local = LocalStorage(segmented_store)
    for info in local.list(""):
        store.put_file(info.key, local.uri(info.key))
    return store


def test_publish_to_s3_and_consume_from_s3(s3_store, published, parts, card_runner):
    for part in parts.all:
        summary = publish_partition(s3_store, *part, parts.cfg)
        assert summary.extra["samples"] == published.summaries[part].extra["samples"]
        checks = partition_checks(s3_store, *part)
        assert all(c.passed for c in checks.values()), checks
        for name in read_shard_index(s3_store, *part).column("shard").to_pylist():
            key = layout.shard_key(*part, name)  # the same bytes as a local publish
            assert s3_store.read_bytes(key) == published.store.read_bytes(key)
    assert s3_store.uri(layout.PUBLISH_ROOT).startswith("s3://")
    # the consumer: the card's snippets as written (shards streamed with boto3 in DataLoader
    # workers, Parquet and JSONL through pyarrow's S3 filesystem, DuckDB over pyarrow)
    card_runner.check(s3_store, card_runner.run(s3_store))
