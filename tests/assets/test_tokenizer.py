"""Tracks -> motion_tokenizer -> latent_codes through Dagster, with a tiny tokenizer."""

import base64

import cv2
import dagster as dg
import numpy as np
import pytest

from assets import ingest, motion, publish, segments, tokenizer
from assets.metadata import PREVIEW_MAX_BYTES
from assets.partitions import partition_key, register
from assets.resources import LapsConfig, LapsStorage
from pipeline.io.storage import open_storage
from pipeline.io.tables import read_partition
from pipeline.synth import render_video

DATE = "2026-04-02"
TINY = {"d_model": 32, "heads": 2, "enc_layers": 1, "dec_layers": 1, "max_epochs": 1}


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("tok")
    for i in range(2):  # two videos: the tokenizer's split is by video
        render_video(root / "landing" / "st1" / DATE / f"v{i}.mp4", seconds=5, seed=40 + i)
    return root


def _resources(root, **tok):
    return {
        "storage": LapsStorage(data_root=str(root)),
        "laps_config": LapsConfig(tokenizer={**TINY, **tok}),
    }


TABLE_ASSETS = {"videos", "chunks", "tracks", "latent_codes", "energy", "segments", "training_data"}


def _floats(value):
    """Every float in a metadata value (through JSON data, dicts and lists)."""
    if isinstance(value, dg.JsonMetadataValue | dg.FloatMetadataValue):
        value = value.data if isinstance(value, dg.JsonMetadataValue) else value.value
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _floats(v)
    elif isinstance(value, list | tuple) and not isinstance(value, dg.MetadataValue):
        for v in value:
            yield from _floats(v)


def _row_counts(run) -> dict[str, int]:
    """Each materialized asset's ``dagster/row_count``; every float of the run's materialization
    and check metadata has at most 4 significant digits."""
    out, materialized = {}, set()
    for event in run.get_asset_materialization_events():
        mat = event.step_materialization_data.materialization
        materialized.add(mat.asset_key.to_user_string())
        for key, value in mat.metadata.items():
            for f in _floats(value):
                assert f != f or float(f"{f:.4g}") == f, (mat.asset_key, key, f)
        if "dagster/row_count" in mat.metadata:
            out[mat.asset_key.to_user_string()] = mat.metadata["dagster/row_count"].value
    for check in run.get_asset_check_evaluations():
        for key, value in check.metadata.items():
            assert all(float(f"{f:.4g}") == f for f in _floats(value)), (check.check_name, key)
    assert materialized & TABLE_ASSETS <= set(out)  # every table written says how many rows
    return out


def test_codes_need_a_trained_tokenizer_then_cover_every_window(workspace):
    instance = dg.DagsterInstance.ephemeral()
    register(instance, [(DATE, "st1")])
    pk = str(partition_key(DATE, "st1"))
    res = _resources(workspace)
    upstream = [ingest.videos, ingest.chunks, motion.tracks]
    up = dg.materialize(upstream, partition_key=pk, instance=instance, resources=res)
    assert up.success

    # no tokenizer yet: the codes step fails and says what to do
    early = dg.materialize(
        [tokenizer.latent_codes],
        partition_key=pk,
        instance=instance,
        resources=res,
        raise_on_error=False,
    )
    assert not early.success
    failure = early.get_step_failure_events()[0].event_specific_data.error
    assert "materialize `motion_tokenizer`" in failure.cause.message

    trained = dg.materialize([tokenizer.motion_tokenizer], instance=instance, resources=res)
    meta = trained.asset_materializations_for_node("motion_tokenizer")[0].metadata
    assert meta["trained"].value is True
    version = meta["tokenizer_version"].value

    again = dg.materialize([tokenizer.motion_tokenizer], instance=instance, resources=res)
    meta2 = again.asset_materializations_for_node("motion_tokenizer")[0].metadata
    assert meta2["trained"].value is False and meta2["tokenizer_version"].value == version

    result = dg.materialize(
        [tokenizer.latent_codes], partition_key=pk, instance=instance, resources=res
    )
    assert result.success
    assert all(c.passed for c in result.get_asset_check_evaluations())
    store = open_storage(workspace)
    windows = read_partition(store, "windows", DATE, "st1").to_pylist()
    codes = read_partition(store, "codes", DATE, "st1").to_pylist()
    assert _row_counts(up) == {
        "videos": 2,
        "chunks": read_partition(store, "chunks", DATE, "st1").num_rows,
        "tracks": len(windows),
    }
    assert _row_counts(result) == {"latent_codes": len(codes)}
    _row_counts(trained)  # floats (losses, throughput) rounded
    assert [(r["video_id"], r["window_index"]) for r in codes] == sorted(
        (w["video_id"], w["window_index"]) for w in windows
    )
    row = codes[0]
    assert row["tokenizer_version"] == version
    assert row["fsq_levels"] == [8, 5, 5, 5] and row["codebook_size"] == 1000
    assert len(row["codes"]) == row["tokens_per_window"] == 15
    assert len(row["latent_pre"]) == 15 * row["latent_dim"]
    flat = np.concatenate([r["codes"] for r in codes])
    assert flat.min() >= 0 and flat.max() < 1000

    # energy, segments and clips: one step, three assets, a warning-level rate check
    seg = dg.materialize(
        [segments.segmentation], partition_key=pk, instance=instance, resources=res
    )
    assert seg.success
    mats = {
        m.asset_key.to_user_string(): m for m in seg.asset_materializations_for_node("segmentation")
    }
    assert set(mats) == {"energy", "segments", "segment_clips"}
    assert mats["energy"].metadata["windows"].value == len(windows)
    assert store.exists(mats["energy"].metadata["energy_plot"].value.split(str(workspace))[1][1:])
    # the first video's plot is shown inline, with its store-relative key beside the path
    energy_meta = mats["energy"].metadata
    key = energy_meta["energy_plot_key"].value
    assert not key.startswith("/") and store.exists(key) and key in energy_meta["energy_plot"].value
    assert energy_meta["energy_plot_keys"].value == sorted(energy_meta["energy_plot_keys"].value)
    image = energy_meta["energy_plot_image"].value
    assert image.startswith("![") and "](data:image/png;base64," in image
    png = base64.b64decode(image.split("base64,", 1)[1].split(")", 1)[0])
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) < len(store.read_bytes(key))
    checks = {c.check_name: c for c in seg.get_asset_check_evaluations()}
    assert set(checks) == {s.name for s in segments.segmentation.check_specs}
    assert {"thresholds_calibrated", "clips_decode", "every_segment_has_clip"} <= set(checks)
    check = checks.pop("segment_rate_in_usual_range")  # no earlier dates: a warning, not a pass
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert "not enough history: 0 earlier partitions, need 3" in check.description
    assert all(c.passed for c in checks.values())
    seg_rows = read_partition(store, "segments", DATE, "st1").to_pylist()
    assert mats["segments"].metadata["segments"].value == len(seg_rows)
    granularity = mats["segments"].metadata["granularity"].value  # which count rule fired
    assert sum(v for k, v in granularity.items() if k.startswith("videos_")) == 2
    assert granularity["merged"] >= 0
    assert len({r["segment_id"] for r in seg_rows}) == len(seg_rows)
    assert _row_counts(seg) == {"energy": len(windows), "segments": len(seg_rows)}
    # clips: separate counts, the partition's clip folder (store-relative), a keyframe strip
    clip_meta = {k: v.value for k, v in mats["segment_clips"].metadata.items()}
    with_clip = [r["clip_key"] for r in seg_rows if r["clip_key"]]
    assert with_clip and clip_meta["clips_written"] + clip_meta["clips_kept"] == len(with_clip)
    assert clip_meta["clips_failed"] == 0 and clip_meta["write_clips"] is True
    folder = clip_meta["clip_folder"]
    assert folder == f"clips/date={DATE}/station=st1/"
    assert all(k.startswith(folder) for k in with_clip)
    preview = clip_meta["preview"]
    assert preview.startswith("![") and preview.endswith(f"`{with_clip[0]}`")
    uri = preview.split("](", 1)[1].split(")", 1)[0]
    assert uri.startswith("data:image/jpeg;base64,") and len(uri) < PREVIEW_MAX_BYTES
    jpeg = np.frombuffer(base64.b64decode(uri.split(",", 1)[1], validate=True), np.uint8)
    strip = cv2.imdecode(jpeg, cv2.IMREAD_COLOR)
    assert strip is not None and strip.shape[0] == 96 and strip.shape[1] > strip.shape[0]

    # the training data, then the card; blocking checks stop the card when they fail
    pub = dg.materialize(
        [publish.training_data, publish.dataset_card],
        partition_key=pk, instance=instance, resources=res,
    )  # fmt: skip
    assert pub.success
    assert _row_counts(pub)["training_data"] == len(with_clip)
    evaluations = {e.check_name: e for e in pub.get_asset_check_evaluations()}
    assert set(evaluations) == set(publish.CHECK_NAMES)
    assert all(e.passed for e in evaluations.values())
    assert store.exists("publish/README.md")
    card_mtime = (workspace / "publish/README.md").stat().st_mtime_ns
    store.delete(seg_rows[0]["clip_key"])  # a clip gone: its sample cannot be published
    broken = dg.materialize(
        [publish.training_data, publish.dataset_card],
        partition_key=pk, instance=instance, resources=res, raise_on_error=False,
    )  # fmt: skip
    assert not broken.success
    failed = {e.check_name for e in broken.get_asset_check_evaluations() if not e.passed}
    assert "sample_count" in failed
    assert not broken.asset_materializations_for_node("dataset_card")  # blocked downstream
    assert (workspace / "publish/README.md").stat().st_mtime_ns == card_mtime

    # a different tokenizer config is refused by the stored checkpoint (strict loading), not
    # silently mixed with it
    other = _resources(workspace, d_model=64)
    out = dg.materialize(
        [tokenizer.latent_codes],
        partition_key=pk,
        instance=instance,
        resources=other,
        raise_on_error=False,
    )
    assert not out.success
    message = out.get_step_failure_events()[0].event_specific_data.error.cause.message
    assert "d_model" in message


def test_segmentation_resource_defaults_follow_the_pipeline_config():
    from pipeline.segments.config import SegmentationConfig

    assert LapsConfig().pipeline().segmentation == SegmentationConfig()
    off = LapsConfig(segmentation={"conveyor_filter": False, "max_len_sec": 2.0}).pipeline()
    off = off.segmentation
    assert off.conveyor_filter is False and off.max_len_sec == 2.0
    assert off.fingerprint() != SegmentationConfig().fingerprint()
