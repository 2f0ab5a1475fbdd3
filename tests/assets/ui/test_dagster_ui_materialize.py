"""A partition materialized from the real Dagster UI: the launch dialog, the run, and what the
asset page shows afterwards (the energy plot inline, the asset's checks passed).

Before ``dagster dev`` starts, the fixture's partition (date|station) has landed video (one
rendered ``test``-preset clip) and everything upstream of ``energy`` materialized in-process
through the same instance and data root (a tiny tokenizer trained for one epoch). A second date
and station are registered without video, so the dialog offers a real choice. The test then
materializes ``energy`` from its asset page (the multi-asset brings ``segments`` and
``segment_clips`` along) and never depends on a job's name.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import urllib.request
from pathlib import Path
from types import ModuleType

import pytest

MATERIALIZE_SCREENSHOT = Path("/tmp/dagster_ui_materialize.png")
VIDEO_SECONDS = 6.0
# Registered, no video landed: the dialog lists them next to the prepared keys.
OTHER_DATE = "2026-02-02"
OTHER_STATION = "ui-other-station"
# The smallest tokenizer the asset tests train (tests/assets/test_tokenizer.py), one epoch; with a
# single video no validation share (a 6 s video has too few windows for the block split).
TINY_TOKENIZER = {
    "d_model": 32, "heads": 2, "enc_layers": 1, "dec_layers": 1, "max_epochs": 1,
    "val_fraction": 0.0,
}  # fmt: skip
RUN_DEADLINE_MS = 240_000  # queued -> started -> segmentation done, on a loaded 2-core machine


def land_and_process_upstream(instance, data_root: Path, date: str, station: str) -> None:
    """One landed video for date|station; videos, chunks, tracks, motion_tokenizer and
    latent_codes materialized in one in-process run, every check passing."""
    import dagster as dg

    from assets import ingest, motion, tokenizer
    from assets.partitions import partition_key, register
    from assets.resources import LapsConfig, LapsStorage
    from pipeline.synth import synthesize

    landed = synthesize(
        data_root / "landing" / station / date,
        videos=1, seconds=VIDEO_SECONDS, seed=3, preset="test",
    )  # fmt: skip
    assert len(landed) == 1 and landed[0].stat().st_size > 0
    register(instance, [(date, station), (OTHER_DATE, OTHER_STATION)])
    result = dg.materialize(
        [ingest.videos, ingest.chunks, motion.tracks, tokenizer.motion_tokenizer,
         tokenizer.latent_codes],
        partition_key=str(partition_key(date, station)),
        instance=instance,
        resources={
            "storage": LapsStorage(data_root=str(data_root)),
            "laps_config": LapsConfig(tokenizer=TINY_TOKENIZER),
        },
    )  # fmt: skip
    assert result.success
    failed = [c.check_name for c in result.get_asset_check_evaluations() if not c.passed]
    assert not failed, failed
    videos = result.asset_materializations_for_node("videos")[0].metadata
    assert videos["dagster/row_count"].value == 1


@pytest.fixture
def ui_prepare():
    """Overrides the conftest's: dagster dev starts over a partition ready for segmentation."""
    return land_and_process_upstream


def _energy_checks() -> dict[str, str]:
    """Name -> description of the checks on the energy asset (from the code location)."""
    from assets.segments import segmentation

    return {
        s.name: s.description or ""
        for s in segmentation.check_specs
        if s.asset_key.to_user_string() == "energy"
    }


def _graphql(base: str, query: str) -> dict:
    request = urllib.request.Request(
        f"{base}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as resp:
        body = json.load(resp)
    assert "errors" not in body, body
    return body["data"]


def _pick(page, dialog, key: str) -> None:
    """Open the first dimension whose partition selector is still empty and tick ``key``."""
    dialog.get_by_text("Select a partition or create one", exact=True).first.click()
    page.get_by_text(key, exact=True).first.click()  # the option in the selector's popover
    dialog.get_by_text("Launch runs to materialize").click()  # closes the popover


def _tall_viewport(page) -> None:
    """Grow the viewport to the page's scroll height: the UI scrolls inside its own containers,
    so a plain full-page screenshot would show only the first screen."""
    height = page.evaluate(
        "() => Math.max(...Array.from(document.querySelectorAll('*'), e => e.scrollHeight))"
    )
    page.set_viewport_size({"width": 1600, "height": max(1000, min(int(height) + 40, 6000))})
    page.evaluate("() => document.querySelectorAll('*').forEach(e => { e.scrollTop = 0; })")


@pytest.mark.ui
@pytest.mark.slow
@pytest.mark.timeout(600)
def test_materialize_a_partition_from_the_ui(
    ui_page, dagster_ui, sync_api: ModuleType, tmp_path: Path
) -> None:
    # ui_page comes first: Playwright and Chromium are checked before the data is prepared.
    expect = sync_api.expect
    page = ui_page
    base = dagster_ui.base_url
    date, station = dagster_ui.date, dagster_ui.station
    checks = _energy_checks()
    assert len(checks) >= 3, checks
    # The "Join the Dagster community" dialog opens a second after a first page load, possibly
    # over another dialog (where its Skip button cannot be clicked): mark it seen the way its
    # Skip button does, through the webserver's GraphQL API, before any page is opened.
    _graphql(base, "mutation { setNuxSeen }")
    assert _graphql(base, "{ shouldShowNux }") == {"shouldShowNux": False}
    try:
        _materialize_and_look(page, expect, base, date, station, checks, tmp_path)
    except BaseException:
        with contextlib.suppress(Exception):  # what the UI showed, next to the failure
            page.screenshot(path=str(tmp_path / "failure.png"), full_page=True)
        raise


def _materialize_and_look(page, expect, base, date, station, checks, tmp_path: Path) -> None:
    partition = f"{date}|{station}"

    # The energy asset's page: not materialized yet; its upstream is (the status of latent_codes).
    page.goto(f"{base}/assets/energy")
    expect(page.get_by_text("Never materialized")).to_be_visible()
    page.get_by_role("button", name="Materialize…").click()

    # energy is one output of a multi-asset that cannot be subset: the UI says which assets come
    # along, then opens the partition dialog with no partition chosen.
    extra = page.get_by_role("dialog").filter(has_text="Additional assets will be materialized")
    expect(extra.get_by_text("segment_clips", exact=True)).to_be_visible()
    expect(extra.get_by_text("segments", exact=True)).to_be_visible()
    extra.get_by_role("button", name="Confirm").click()
    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize 3 assets")
    expect(dialog.get_by_text("0 partitions")).to_be_visible()
    _pick(page, dialog, date)  # date first, then station (the dialog's dimension order)
    _pick(page, dialog, station)
    expect(dialog.get_by_text("1 partition", exact=True)).to_be_visible()
    launch = dialog.get_by_role("button", name="Launch 1 run", exact=True)
    expect(launch).to_be_enabled()
    launch.click()

    # The toast names the run; its page follows the run to success.
    toast = page.get_by_text(re.compile(r"^Launched run [0-9a-f]{8}"))
    expect(toast).to_be_visible()
    run_id = toast.inner_text().split()[-1]
    page.get_by_role("link", name="View", exact=True).first.click()
    page.wait_for_url(re.compile(rf"/runs/{run_id}[0-9a-f-]*"))
    expect(page.get_by_text(f"partition: {partition}", exact=True).first).to_be_visible()
    done = page.get_by_text(re.compile(r"^(Success|Failure|Canceled)$"))
    expect(done.first).to_be_visible(timeout=RUN_DEADLINE_MS)
    assert done.first.inner_text() == "Success", f"run {run_id} ended {done.first.inner_text()}"

    # The asset page: the latest materialization is that partition, and the energy plot opens
    # inline from its metadata (a decoded PNG, not a file path).
    page.goto(f"{base}/assets/energy")
    expect(page.get_by_text(partition, exact=True).first).to_be_visible()
    row = page.locator("tr", has_text="energy_plot_image")
    row.get_by_text("[Show Markdown]").click()
    image_dialog = page.get_by_role("dialog").filter(has_text="energy_plot_image")
    image = image_dialog.locator("img").first
    expect(image).to_be_visible()
    image.evaluate("img => img.decode()")  # resolves once the PNG has loaded and decoded
    size = image.evaluate("img => [img.naturalWidth, img.naturalHeight]")
    assert size[0] > 0 and size[1] > 0, size
    assert image.get_attribute("src").startswith("data:image/png;base64,")
    expect(image_dialog.get_by_text(f"station={station}", exact=False).first).to_be_visible()
    _tall_viewport(page)
    shot = tmp_path / "dagster_ui_materialize.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 20_000, "asset page screenshot is suspiciously small"
    shutil.copyfile(shot, MATERIALIZE_SCREENSHOT)
    image_dialog.get_by_role("button", name="Close").click()
    page.set_viewport_size({"width": 1600, "height": 1000})

    # The asset's checks, each shown passed for that materialization.
    page.goto(f"{base}/assets/energy?view=checks")
    expect(page.get_by_text(f"Checks ({len(checks)})")).to_be_visible()
    for name, description in checks.items():
        # the list entry: the check's name (a truncating container titled with it) and status
        item = page.locator("span", has=page.get_by_title(name, exact=True))
        expect(item.filter(has_text="Succeeded").first).to_be_visible()
        item.first.click()
        expect(page.get_by_text(description).first).to_be_visible()
        expect(page.get_by_text("Passed", exact=True).first).to_be_visible()
    page.screenshot(path=str(tmp_path / "dagster_ui_materialize_checks.png"), full_page=True)
