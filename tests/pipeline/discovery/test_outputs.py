"""The library's consumer outputs on a real published store: clusters.parquet, the gallery
(with its exemplar clips, opened in headless Chromium), ICSS and the card's section."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from lapstest.browser import CHROMIUM_ARGS, chromium_executable, only_loopback, playwright_sync_api

from pipeline.discovery.stage import current_library
from pipeline.io import keys
from pipeline.io.storage import LocalStorage
from pipeline.io.tables import read_partition
from pipeline.stages import PipelineConfig, StageContext, run_stage


@pytest.fixture(scope="module")
def carded(segmented_store, tmp_path_factory, parts):
    """A copy of the segmented store, published, with the card stage run once."""
    root = tmp_path_factory.mktemp("outputs") / "store"
    shutil.copytree(segmented_store, root)
    store = LocalStorage(root)
    cfg = PipelineConfig()
    for part in parts.all:
        run_stage("publish", StageContext(store=store, date=part[0], station=part[1], config=cfg))
    summary = run_stage("card", StageContext(store=store, date="", station="", config=cfg))
    return store, summary


def _assigned(store, parts):
    return [r for p in parts.all for r in read_partition(store, "segment_clusters", *p).to_pylist()]


def test_clusters_table_counts_every_assigned_segment(carded, parts):
    store, summary = carded
    lib, _ = current_library(store)
    table = pq.read_table(store.uri(keys.CLUSTERS_KEY))
    assert table.schema.metadata[b"library_version"] == lib.version.encode()
    rows = table.to_pylist()
    assert [r["cluster_id"] for r in rows] == sorted(lib.ids)
    assigned = _assigned(store, parts)
    for r in rows:
        members = [a for a in assigned if a["cluster_id"] == r["cluster_id"]]
        assert r["size"] == len(members) and r["cluster_name"] == lib.name_of(r["cluster_id"])
        assert set(r["exemplar_segment_ids"]) <= {m["segment_id"] for m in members}
        if members:  # the exemplars are the members nearest the centroid
            best = min(m["distance"] for m in members)
            near = {m["segment_id"] for m in members if m["distance"] == best}
            assert r["exemplar_segment_ids"][0] in near
    assert sum(r["size"] for r in rows) == len(assigned)
    assert summary.keys["gallery"] == keys.GALLERY_KEY


def test_icss_is_computed_and_labelled_non_semantic_without_clip(carded):
    store, summary = carded
    icss = summary.extra["library"]["icss"]
    assert icss["semantic"] is False and "non-semantic" in icss["embedder"]
    assert icss["n_items"] > 0
    card = store.read_bytes(keys.CARD_KEY).decode()
    assert "## Primitive clusters" in card and "non-semantic fallback" in card
    assert "[gallery](gallery/index.html)" in card


@pytest.mark.ui
@pytest.mark.timeout(180)
def test_the_pipelines_gallery_loads_every_section_and_clip_in_chromium(carded):
    store, _ = carded
    lib, _ = current_library(store)
    rows = pq.read_table(store.uri(keys.CLUSTERS_KEY)).to_pylist()
    n_videos = sum(len(r["exemplar_segment_ids"]) for r in rows)
    url = (Path(store.root) / keys.GALLERY_KEY).as_uri()
    sync_api = playwright_sync_api()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=chromium_executable(), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_context().new_page()
            page.route("**/*", only_loopback)
            failed: list[str] = []
            page.on("requestfailed", lambda r: failed.append(r.url))
            page.goto(url, wait_until="load")
            page.wait_for_function("() => [...document.images].every(i => i.complete)")
            page.wait_for_function(
                "() => [...document.querySelectorAll('video')]"
                ".every(v => v.readyState >= 1 || v.error)"
            )
            ids = page.eval_on_selector_all("section.cluster", "els => els.map(e => e.id)")
            assert ids == [f"cluster-{r['cluster_id']}" for r in rows]
            videos = page.eval_on_selector_all(
                "video", "vs => vs.map(v => [v.readyState, v.error && v.error.code])"
            )
            assert len(videos) == n_videos > 0
            assert all(ready >= 1 and err is None for ready, err in videos), videos
            widths = page.eval_on_selector_all("img", "is => is.map(i => i.naturalWidth)")
            assert len(widths) == n_videos + 1 and all(w > 0 for w in widths)  # strips + map
            assert not failed, failed
        finally:
            browser.close()
    assert lib.version in store.read_bytes(keys.GALLERY_KEY).decode()
