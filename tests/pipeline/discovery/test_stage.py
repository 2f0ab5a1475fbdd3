"""The discovery stages on a real segmented store (``laps segment`` on rendered videos):
a library fitted once and reused, every segment assigned, ids kept on refit."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pipeline.discovery.config import DiscoveryConfig
from pipeline.discovery.stage import cluster_partition, current_library, library_stage
from pipeline.io import keys
from pipeline.io.storage import LocalStorage
from pipeline.io.tables import read_partition, schema_version_of


@pytest.fixture
def store(segmented_store, tmp_path):
    shutil.copytree(segmented_store, tmp_path / "store")
    return LocalStorage(tmp_path / "store")


def _segment_ids(store, part):
    return sorted(read_partition(store, "segments", *part).column("segment_id").to_pylist())


def test_laps_segment_fitted_one_library_and_assigned_every_segment(segmented_store, parts):
    store = LocalStorage(segmented_store)
    lib, _ = current_library(store)
    meta = json.loads(store.read_bytes(keys.library_key(lib.version, "library.json")))
    assert meta["version"] == lib.version and meta["embedding"] == "motion_summary"
    # the first run (parts.a) fitted; the second reused it: it was fitted on parts.a alone
    assert lib.fit_segments == len(_segment_ids(store, parts.a))
    assert store.read_bytes(keys.library_key(lib.version, "map.png"))[:4] == b"\x89PNG"
    for part in parts.all:
        t = read_partition(store, "segment_clusters", *part)
        assert schema_version_of(t) == 1
        rows = t.to_pylist()
        assert sorted(r["segment_id"] for r in rows) == _segment_ids(store, part)
        assert {r["library_version"] for r in rows} == {lib.version}
        assert all(r["cluster_id"] in lib.ids for r in rows)
        assert all(r["cluster_name"] == lib.name_of(r["cluster_id"]) for r in rows)
        assert all(0.0 <= r["distance"] <= 2.0 for r in rows)


def test_a_rerun_reuses_the_library_and_reassigns_identically(store, parts):
    before = read_partition(store, "segment_clusters", *parts.b).to_pylist()
    s = library_stage(store, DiscoveryConfig())
    assert s.extra["fitted"] is False and s.extra["decision"].startswith("reused")
    again = cluster_partition(store, *parts.b, DiscoveryConfig())
    assert again.output == before


def test_a_refit_uses_every_partition_and_keeps_matched_ids(store, parts):
    old, _ = current_library(store)
    s = library_stage(store, DiscoveryConfig(refit=True))
    new, _ = current_library(store)
    assert s.extra["fitted"] and new.previous_version == old.version
    n = sum(len(_segment_ids(store, p)) for p in parts.all)
    assert new.fit_segments == n
    mapped = {m["old_id"]: m["new_id"] for m in new.id_mapping if m["old_id"] is not None}
    assert set(mapped) == set(old.ids)  # every old id is either kept or recorded as retired
    kept = [o for o, nid in mapped.items() if nid is not None]
    assert kept and all(mapped[o] == o for o in kept)
    # assignments after the refit point at the new library
    rows = cluster_partition(store, *parts.a, DiscoveryConfig()).output
    assert {r["library_version"] for r in rows} == {new.version}


def test_the_paper_embedding_saves_its_frozen_encoder_and_reloads_it(store, parts):
    cfg = DiscoveryConfig(embedding="latent_transformer")
    s = library_stage(store, cfg)
    assert s.extra["fitted"] and "embedding changed" in s.extra["decision"]
    lib, state = current_library(store)
    assert lib.embedding == "latent_transformer" and state is not None
    assert state["config"]["d_model"] == 256 and state["config"]["layers"] == 4
    first = cluster_partition(store, *parts.a, cfg).output
    second = cluster_partition(store, *parts.a, cfg).output  # encoder reloaded from the store
    assert first == second and len(first) == len(_segment_ids(store, parts.a))


def test_code_bag_embedding_fits_too(store, parts):
    s = library_stage(store, DiscoveryConfig(embedding="code_bag", k_min=2, k_max=4))
    assert s.extra["fitted"] and 2 <= s.extra["k"] <= 4


def test_without_a_library_nothing_is_assigned_and_the_reason_is_given(store, parts):
    store.delete_prefix(keys.LIBRARY_PREFIX)
    s = cluster_partition(store, *parts.a, DiscoveryConfig())
    assert s.extra["assigned"] == 0 and "no primitive library" in s.extra["reason"]
    assert s.extra["segments"] == len(_segment_ids(store, parts.a))
    off = library_stage(store, DiscoveryConfig(enabled=False))
    assert off.extra["library_version"] is None and not store.exists(keys.LIBRARY_CURRENT)


def test_the_library_map_shows_every_cluster(store):
    import cv2

    lib, _ = current_library(store)
    png = store.read_bytes(keys.library_key(lib.version, "map.png"))
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None and img.shape[0] > 100 and img.shape[1] > 100
