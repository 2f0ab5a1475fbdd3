"""The real Dagster UI (``dagster dev``) shows this code location's assets, partitions and
automation, driven headless in Debian's Chromium.

Asserts on the assets that exist today (videos, chunks, tracks); later assets may be added freely.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from types import ModuleType

import pytest

ASSETS = ("videos", "chunks", "tracks")
LEAD_SCREENSHOT = Path("/tmp/dagster_ui_graph.png")


@pytest.mark.ui
@pytest.mark.timeout(400)
def test_dagster_ui_shows_assets_partitions_and_automation(
    ui_page, dagster_ui, sync_api: ModuleType, tmp_path: Path
) -> None:
    # ui_page comes first: it checks for Playwright and Chromium before dagster dev is started.
    expect = sync_api.expect
    page = ui_page
    base = dagster_ui.base_url
    # The first visit opens a "Join the Dagster community" dialog over the page; dismiss it
    # whenever it shows up before an action or assertion.
    page.add_locator_handler(
        page.get_by_role("button", name="Skip", exact=True),
        lambda skip: skip.click(),
    )

    # Asset catalog: one row per asset, linking to the asset's page.
    page.goto(f"{base}/assets")
    for name in ASSETS:
        expect(page.locator(f'a[href="/assets/{name}"]').first).to_be_visible()

    # Global asset lineage (the asset graph). With several groups they start collapsed; the UI's
    # own shortcut (Alt+E, "Expand all groups") opens them.
    page.goto(f"{base}/asset-groups")
    # Graph nodes (assets and groups) are HTML inside the SVG's foreignObject elements; this
    # keeps the asset tree in the side panel out of the match.
    graph = page.locator("svg foreignObject")
    first_node = graph.get_by_text(ASSETS[0], exact=True)
    ingest_group = graph.get_by_text("ingest", exact=True)
    expect(first_node.or_(ingest_group).first).to_be_visible()  # the graph has rendered
    if not first_node.is_visible():
        page.keyboard.press("Alt+KeyE")
    for name in ASSETS:
        node = graph.get_by_text(name, exact=True)
        expect(node).to_be_visible()
        expect(node).to_be_in_viewport()  # the graph zoomed to fit after expanding
    expect(page.get_by_text("Join the Dagster community")).to_be_hidden()
    shot = tmp_path / "dagster_ui_graph.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000, "asset graph screenshot is suspiciously small"
    shutil.copyfile(shot, LEAD_SCREENSHOT)

    # The videos asset: its Partitions tab shows both dynamic dimensions (date x station), with
    # the registered keys only.
    page.goto(f"{base}/assets/videos")
    page.get_by_role("tab", name="Partitions").or_(
        page.get_by_role("link", name="Partitions", exact=True)
    ).first.click()
    expect(page.get_by_placeholder("Filter by date")).to_be_visible()
    expect(page.get_by_placeholder("Filter by station")).to_be_visible()
    expect(page.get_by_text(dagster_ui.station, exact=True).first).to_be_visible()
    expect(page.get_by_text(dagster_ui.date, exact=True).first).to_be_visible()

    # Jobs and automation.
    page.goto(f"{base}/jobs")
    expect(page.get_by_text("partition_job", exact=True).first).to_be_visible()
    page.goto(f"{base}/automation")
    for name in ("landing_sensor", "nightly_schedule"):
        expect(page.get_by_text(name, exact=True).first).to_be_visible()
