"""The asset checks in Dagster: structural checks are blocking ERROR checks that fail on a bad
store and stop what is downstream; the segment-rate check warns without history."""

import shutil

import dagster as dg
import pytest
from videogen import make_video

from assets import ingest, motion, segments
from assets.definitions import defs
from assets.partitions import partition_key, register
from assets.resources import LapsConfig, LapsStorage
from pipeline.io import keys as layout
from pipeline.io import schemas
from pipeline.io.storage import open_storage
from pipeline.io.tables import read_partition, write_partition
from pipeline.quality import check_segment_rate

DATE = "2026-02-01"
WARN_ONLY = {"segment_rate_in_usual_range", "every_video_tracked"}


def test_structural_checks_are_blocking():
    graph = defs.resolve_asset_graph()
    specs = {(k.asset_key.to_user_string(), k.name): graph.get_check_spec(k)
             for k in graph.asset_check_keys}  # fmt: skip
    for asset, name in [("videos", "schema_version"), ("videos", "unique_video_ids"),
                        ("chunks", "windows_contiguous"), ("tracks", "monotonic_times"),
                        ("latent_codes", "token_range"), ("latent_codes", "every_window_has_codes"),
                        ("segments", "unique_segment_ids"), ("energy", "no_nulls"),
                        ("segment_clips", "every_segment_has_clip"),
                        ("segment_clips", "clips_decode")]:  # fmt: skip
        assert specs[asset, name].blocking, (asset, name)
    mine = {"videos", "chunks", "tracks", "latent_codes", "energy", "segments", "segment_clips"}
    lenient = {name for (a, name), s in specs.items() if a in mine and not s.blocking}
    assert lenient == WARN_ONLY


@pytest.fixture()
def landed(tmp_path):
    day = tmp_path / "landing" / "st1" / DATE
    make_video(day / "a.mp4", frames=90)
    make_video(day / "b.mp4", frames=40)
    return tmp_path


def _resources(root):
    return {
        "storage": LapsStorage(
            data_root=str(root), landing_uri=str(root / "landing"), store_uri=str(root / "store")
        ),
        "laps_config": LapsConfig(),
    }


def test_a_failed_blocking_check_stops_downstream(landed):
    instance = dg.DagsterInstance.ephemeral()
    register(instance, [(DATE, "st1")])
    pk = str(partition_key(DATE, "st1"))
    res = _resources(landed)
    good = dg.materialize([ingest.videos, ingest.chunks], partition_key=pk, instance=instance,
                          resources=res)  # fmt: skip
    assert good.success
    evaluations = good.get_asset_check_evaluations()
    assert {e.check_name for e in evaluations} >= {"schema_version", "no_nulls",
                                                   "chunks_cover_videos"}  # fmt: skip
    assert all(e.passed for e in evaluations)

    # a bad videos table (a video listed twice): chunks are planned twice, the chunk checks fail
    store = open_storage(landed / "store")
    videos = read_partition(store, "videos", DATE, "st1").to_pylist()
    write_partition(store, "videos", DATE, "st1", [*videos, videos[0]], schema=schemas.VIDEOS,
                    schema_version=schemas.VIDEOS_VERSION)  # fmt: skip
    bad = dg.materialize([ingest.chunks, motion.tracks], partition_key=pk, instance=instance,
                         resources=res, raise_on_error=False)  # fmt: skip
    assert not bad.success
    failed = {e.check_name: e for e in bad.get_asset_check_evaluations() if not e.passed}
    assert {"unique_chunk_ids", "windows_contiguous", "chunks_cover_videos"} <= set(failed)
    assert all(e.severity == dg.AssetCheckSeverity.ERROR for e in failed.values())
    assert "1 of" in failed["unique_chunk_ids"].description
    assert not bad.asset_materializations_for_node("tracks")  # blocked downstream
    assert read_partition(store, "windows", DATE, "st1") is None


def _extra(**over):
    extra = {"calibration": {}, "calibrated": True, "thr_on": 0.1, "clips": {"written": 1},
             "segment_rate": check_segment_rate(10, 60.0, [])}  # fmt: skip
    return {**extra, **over}


def test_segmentation_checks_on_a_broken_store(segmented_store, parts, tmp_path):
    shutil.copytree(segmented_store, tmp_path / "store")
    store = open_storage(tmp_path / "store")
    found = {(r.asset_key.to_user_string(), r.check_name): r
             for r in segments.segmentation_check_results(store, *parts.a, _extra())}  # fmt: skip
    specs = {(s.asset_key.to_user_string(), s.name) for s in segments.segmentation.check_specs}
    assert set(found) == specs
    rate = found["segments", "segment_rate_in_usual_range"]
    assert not rate.passed and rate.severity == dg.AssetCheckSeverity.WARN
    assert rate.description.startswith("not enough history: 0 earlier partitions, need 3")
    assert all(r.passed for key, r in found.items() if key[1] != "segment_rate_in_usual_range")

    rows = read_partition(store, "segments", *parts.a).to_pylist()
    for r in rows:  # every clip broken: whichever the seeded sample picks fails to decode
        store.write_bytes(r["clip_key"], b"\x00garbage" * 50)
    write_partition(store, "segments", *parts.a, [*rows, rows[1]], schema=schemas.SEGMENTS,
                    schema_version=schemas.SEGMENTS_VERSION)  # fmt: skip
    results = segments.segmentation_check_results(store, *parts.a, _extra())
    failed = {r.check_name: r for r in results if not r.passed}
    assert set(failed) == {"unique_segment_ids", "segments_ordered", "clips_decode",
                           "segment_rate_in_usual_range"}  # fmt: skip
    assert failed["clips_decode"].asset_key == dg.AssetKey("segment_clips")
    for name in ("unique_segment_ids", "segments_ordered", "clips_decode"):
        assert failed[name].severity == dg.AssetCheckSeverity.ERROR


def test_a_broken_clip_blocks_publishing(segmented_store, parts, tmp_path):
    """A rerun keeps stored clips; a corrupt one fails ``clips_decode`` (ERROR, blocking), so
    ``training_data`` of that partition is not built in the run."""
    from assets import publish

    shutil.copytree(segmented_store, tmp_path / "store")
    store = open_storage(tmp_path / "store")
    date, station = parts.a
    instance = dg.DagsterInstance.ephemeral()
    register(instance, [(date, station)])
    pk = str(partition_key(date, station))
    res = {"storage": LapsStorage(data_root=str(tmp_path), store_uri=str(tmp_path / "store")),
           "laps_config": LapsConfig()}  # fmt: skip
    for r in read_partition(store, "segments", date, station).to_pylist():
        store.write_bytes(r["clip_key"], b"\x00garbage" * 50)
    run = dg.materialize([segments.segmentation, publish.training_data], partition_key=pk,
                         instance=instance, resources=res, raise_on_error=False)  # fmt: skip
    assert not run.success
    failed = {e.check_name: e for e in run.get_asset_check_evaluations() if not e.passed}
    assert failed["clips_decode"].severity == dg.AssetCheckSeverity.ERROR
    assert failed["clips_decode"].asset_key == dg.AssetKey("segment_clips")
    assert set(failed) == {"clips_decode", "segment_rate_in_usual_range"}
    assert run.asset_materializations_for_node("segmentation")  # written, then flagged
    assert not run.asset_materializations_for_node("training_data")
    assert not store.exists(layout.dataset_key(date, station))
