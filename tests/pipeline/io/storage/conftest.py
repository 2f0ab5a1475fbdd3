"""The ``store`` fixture: the same tests run on a local folder and on a real S3 server."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from pipeline.io.storage import S3Settings, Storage, open_storage


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    """A fresh, empty storage root: a temp folder, or a unique prefix in the session bucket."""
    if request.param == "local":
        return open_storage(tmp_path / "root")
    server = request.getfixturevalue("s3_server")
    settings = S3Settings(
        endpoint_url=server.endpoint_url,
        region=server.region,
        access_key_id=server.access_key_id,
        secret_access_key=server.secret_access_key,
    )
    return open_storage(f"s3://{server.bucket}/t-{uuid.uuid4().hex[:10]}", s3=settings)
