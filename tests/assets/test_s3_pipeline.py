"""Ingest and tracking with landing and store on a real S3-compatible server (SeaweedFS)."""

import dagster as dg
import pytest
from videogen import make_video

from assets import ingest, motion
from assets.partitions import partition_key, register
from assets.resources import LapsConfig, LapsStorage
from pipeline.io import catalog
from pipeline.io.storage import open_storage
from pipeline.io.tables import read_partition

pytestmark = pytest.mark.s3


def test_ingest_and_track_from_s3(s3_server, tmp_path, monkeypatch):
    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    base = f"s3://{s3_server.bucket}/pipeline-test"
    landing = open_storage(f"{base}/landing")
    make_video(tmp_path / "a.mp4", frames=75)
    landing.put_file("st1/2026-03-01/a.mp4", tmp_path / "a.mp4")
    landing.write_bytes("st1/2026-03-01/bad.mp4", b"\x00junk" * 100)

    instance = dg.DagsterInstance.ephemeral()
    register(instance, [("2026-03-01", "st1")])
    resources = {
        "storage": LapsStorage(
            data_root=str(tmp_path), landing_uri=f"{base}/landing", store_uri=f"{base}/store"
        ),
        "laps_config": LapsConfig(),
    }
    result = dg.materialize(
        [ingest.videos, ingest.chunks, motion.tracks],
        instance=instance,
        partition_key=str(partition_key("2026-03-01", "st1")),
        resources=resources,
    )
    assert result.success
    store = open_storage(f"{base}/store")
    videos = read_partition(store, "videos", "2026-03-01", "st1").to_pylist()
    assert [v["uri"] for v in videos] == [f"{base}/landing/st1/2026-03-01/a.mp4"]
    windows = read_partition(store, "windows", "2026-03-01", "st1")
    assert windows.num_rows == 3  # 25 normalized frames -> (25 - 16) // 4 + 1
    assert store.exists(windows.column("tracks_key")[0].as_py())
    # the catalog reads S3 tables through pyarrow (DuckDB's S3 extension is not available offline)
    _, rows = catalog.query(
        tmp_path / "c.duckdb",
        store,
        "select (select count(*) from videos), (select count(*) from quarantine)",
    )
    assert rows == [(1, 1)]
