"""The discovery pictures: the embedding map PNG and the static HTML gallery, read back by real
decoders (OpenCV, html.parser) and opened in headless Debian Chromium."""

from __future__ import annotations

import functools
import http.server
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import cv2
import numpy as np
import pytest
from lapstest.browser import (
    CHROMIUM_ARGS,
    chromium_executable,
    only_loopback,
    playwright_sync_api,
)
from videogen import index_frame, make_video

from pipeline.discovery.gallery import (
    MAP_SIZE_PX,
    GalleryCluster,
    GalleryExemplar,
    embedding_map_png,
    gallery_html,
)

SCRIPT = "<script>alert(1)</script>"
BREAKOUT = '"><img src=x onerror=alert(1)>'
HOSTILE = f"{SCRIPT} then {BREAKOUT}"
# tab10's first three colours (BGR), what clusters 0, 1, 2 are drawn in
TAB10_BGR = [(180, 119, 31), (14, 127, 255), (44, 160, 44)]


def _blobs(n_per: int = 40, d: int = 16, k: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(k, d))
    labels = np.repeat(np.arange(k), n_per)
    return centres[labels] + rng.normal(size=(labels.size, d)), labels


def _decode(png: bytes) -> np.ndarray:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None, "PNG did not decode"
    return img


def _has_colour(img: np.ndarray, bgr: tuple[int, int, int], tol: int = 6) -> bool:
    return bool((np.abs(img.astype(int) - bgr).max(axis=2) <= tol).sum() >= 20)


def test_map_png_has_its_size_colours_and_same_bytes_on_rerun() -> None:
    emb, labels = _blobs()
    names = {0: "pick $part", 1: "place part", 2: "screw $"}  # "$" would start mathtext
    png = embedding_map_png(emb, labels, names, title="station A $")
    img = _decode(png)
    assert img.shape == (MAP_SIZE_PX[1], MAP_SIZE_PX[0], 3)
    for bgr in TAB10_BGR:
        assert _has_colour(img, bgr), f"no pixels of cluster colour {bgr}"
    assert embedding_map_png(emb, labels, names, title="station A $") == png
    assert embedding_map_png(emb, labels[::-1].copy(), names, title="station A $") != png


def test_map_png_many_clusters_and_noise() -> None:
    emb, labels = _blobs(n_per=8, k=25)
    labels = labels.copy()
    labels[::7] = -1  # unclustered, drawn grey
    img = _decode(embedding_map_png(emb, labels, {}, title="many"))
    assert img.shape == (MAP_SIZE_PX[1], MAP_SIZE_PX[0], 3)


@pytest.mark.parametrize(
    ("emb", "labels"),
    [
        (np.zeros((0, 8)), np.zeros(0, int)),
        (np.ones((1, 8)), np.zeros(1, int)),
        (np.arange(16.0).reshape(2, 8), np.array([0, 1])),
        (np.arange(5.0).reshape(5, 1), np.arange(5)),
        (np.ones((6, 4)), np.arange(6)),  # identical rows: no variance to project
        (np.where(np.eye(4, 3) > 0, np.nan, 1.0), np.arange(4)),  # non-finite rows left out
    ],
    ids=["empty", "one", "two", "one-dim", "identical", "nan-rows"],
)
def test_map_png_of_tiny_inputs_is_a_message_not_a_crash(emb, labels) -> None:
    png = embedding_map_png(emb, labels, {0: "a"}, title="tiny")
    img = _decode(png)
    assert img.shape == (MAP_SIZE_PX[1], MAP_SIZE_PX[0], 3)
    assert not any(_has_colour(img, bgr) for bgr in TAB10_BGR), "drew points, not a message"
    assert embedding_map_png(emb, labels, {0: "a"}, title="tiny") == png


def test_map_png_refuses_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="labels"):
        embedding_map_png(np.zeros((4, 3)), np.zeros(3, int), {}, title="t")
    with pytest.raises(ValueError, match=r"\(n, d\)"):
        embedding_map_png(np.zeros(4), np.zeros(4, int), {}, title="t")


# ---------------------------------------------------------------------------------------------
# the gallery's HTML


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text content, as a browser would parse."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def of(self, tag: str) -> list[dict[str, str | None]]:
        return [a for t, a in self.tags if t == tag]


def _strip_jpeg(seed: int = 0, frames: int = 4) -> bytes:
    tiles = [cv2.resize(index_frame(seed * 10 + i), (80, 60)) for i in range(frames)]
    ok, buf = cv2.imencode(".jpg", cv2.hconcat(tiles))
    assert ok
    return buf.tobytes()


def _clusters(with_clips: bool = True) -> list[GalleryCluster]:
    """Three clusters: clip + strip exemplars, a strip-only one, a clip-only one, hostile text."""
    clusters = []
    for cid in range(3):
        exemplars = []
        for j in range(2):
            sid = f"seg{cid}{j}"
            clip = f"clips/{sid}.mp4" if with_clips and (cid, j) != (1, 1) else None
            strip = _strip_jpeg(cid * 2 + j) if (cid, j) != (2, 1) else None
            exemplars.append(
                GalleryExemplar(
                    segment_id=sid,
                    video=f"cam{cid}.mp4" if cid else f"cam{BREAKOUT}.mp4",
                    start_sec=1.0 * j,
                    end_sec=1.0 * j + 0.5,
                    distance=0.1 * (j + 1),
                    clip_href=clip,
                    strip_jpeg=strip,
                    instruction=HOSTILE if (cid, j) == (0, 0) else f"do step {cid}.{j}",
                )
            )
        clusters.append(
            GalleryCluster(
                cluster_id=cid,
                name=SCRIPT if cid == 1 else f"primitive {cid}",
                size=10 * (cid + 1),
                hours=0.01 * (cid + 1),
                median_duration_s=2.5,
                share=(cid + 1) / 6,
                exemplars=tuple(exemplars),
            )
        )
    return clusters


def _page(map_png: bytes | None = b"\x89PNG fake", with_clips: bool = True) -> str:
    return gallery_html(
        _clusters(with_clips),
        title=f"gallery {SCRIPT}",
        map_png=map_png,
        summary={"station": BREAKOUT, "segments": "60", SCRIPT: "key too"},
    )


def test_gallery_html_has_sections_toc_and_media() -> None:
    page = _page()
    assert page == _page(), "same input, different text"
    tags = _Tags()
    tags.feed(page)
    sections = tags.of("section")
    assert [s["id"] for s in sections] == ["cluster-0", "cluster-1", "cluster-2"]
    assert all(s["class"] == "cluster" for s in sections)
    assert {a["href"] for a in tags.of("a")} == {"#cluster-0", "#cluster-1", "#cluster-2"}
    videos = tags.of("video")
    assert sorted(v["src"] for v in videos) == [
        "clips/seg00.mp4", "clips/seg01.mp4", "clips/seg10.mp4",
        "clips/seg20.mp4", "clips/seg21.mp4",
    ]  # fmt: skip
    for v in videos:
        assert {"controls", "muted", "loop"} <= v.keys() and v["preload"] == "metadata"
    imgs = tags.of("img")
    assert len(imgs) == 1 + 5  # the map and five strips
    assert imgs[0]["src"].startswith("data:image/png;base64,")
    assert all(i["src"].startswith("data:image/jpeg;base64,") for i in imgs[1:])
    for external in ("link", "script"):
        srcs = [a for a in tags.of(external) if a.get("rel") != "icon"]
        assert not srcs, f"external {external}: {srcs}"
    assert "10 segments" in page and "16.7 %" in page and "median duration 2.5 s" in page


def test_gallery_html_escapes_every_untrusted_text() -> None:
    page = _page()
    tags = _Tags()
    tags.feed(page)
    assert not tags.of("script"), "a <script> element came from text"
    assert all(i["src"].startswith("data:") for i in tags.of("img")), "an <img> came from text"
    assert not [(t, k) for t, a in tags.tags for k in a if k.startswith("on")], "event handler"
    text = "".join(tags.text)
    assert HOSTILE in text  # the instruction, shown as text
    assert f"gallery {SCRIPT}" in text and BREAKOUT in text  # title, summary value
    assert f"cam{BREAKOUT}.mp4" in text  # a file name
    assert text.count(SCRIPT) >= 4  # title (twice), summary key, cluster name (toc + heading)
    alts = [i.get("alt") or "" for i in tags.of("img")]
    assert any(f"cam{BREAKOUT}.mp4" in a for a in alts)  # an attribute value, intact


def test_gallery_without_map_or_clips() -> None:
    tags = _Tags()
    tags.feed(_page(map_png=None, with_clips=False))
    assert not tags.of("video")
    assert len(tags.of("img")) == 5
    assert "no clip or keyframes" in "".join(tags.text)  # the exemplar with neither


@pytest.mark.parametrize(
    "href", ["/etc/passwd", "javascript:alert(1)", "../up.mp4", "clips/../../x", "http://e/x"]
)
def test_exemplar_refuses_non_relative_clip_hrefs(href: str) -> None:
    with pytest.raises(ValueError, match="relative"):
        GalleryExemplar("s", "v.mp4", 0.0, 1.0, 0.0, clip_href=href)


def test_gallery_refuses_duplicate_cluster_ids() -> None:
    c = _clusters()[0]
    with pytest.raises(ValueError, match="unique"):
        gallery_html([c, c], title="t", map_png=None, summary={})


# ---------------------------------------------------------------------------------------------
# in the browser


@pytest.fixture
def gallery_dir(tmp_path: Path) -> Path:
    """A gallery folder as the discovery stage writes it: index.html, map.png, clips/*.mp4."""
    root = tmp_path / "gallery"
    clusters = _clusters()
    for c in clusters:
        for ex in c.exemplars:
            if ex.clip_href is not None:  # H.264 yuv420p, like the published clips
                make_video(root / ex.clip_href, frames=15, fps=10.0, width=160, height=120)
    emb, labels = _blobs()
    map_png = embedding_map_png(emb, labels, {c.cluster_id: c.name for c in clusters}, title="m")
    (root / "map.png").write_bytes(map_png)
    page = gallery_html(clusters, title="gallery", map_png=map_png, summary={"station": BREAKOUT})
    (root / "index.html").write_text(page, encoding="utf-8")
    return root


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (the base's name)
        pass


@pytest.fixture
def served(gallery_dir: Path) -> Iterator[str]:
    """The gallery folder over a loopback HTTP server; its index URL."""
    handler = functools.partial(_QuietHandler, directory=str(gallery_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


_ALL_VIDEOS_SETTLED = (
    "() => [...document.querySelectorAll('video')].every(v => v.readyState >= 1 || v.error)"
)
_ALL_IMAGES_SETTLED = "() => [...document.images].every(i => i.complete)"
_VIDEO_STATES = """() => [...document.querySelectorAll('video')].map(v => ({
    src: v.getAttribute('src'), ready: v.readyState, error: v.error && v.error.code,
    width: v.videoWidth, duration: v.duration}))"""
_IMAGE_WIDTHS = "() => [...document.images].map(i => i.naturalWidth)"


def _check_in_browser(context, sync_api, url: str) -> None:
    n_videos, n_images = 5, 1 + 5
    page = context.new_page()
    dialogs: list[str] = []
    problems: list[str] = []

    def on_response(r) -> None:
        if r.status >= 400:
            problems.append(f"HTTP {r.status} {r.url}")

    def on_console(m) -> None:
        if m.type == "error":
            problems.append(f"console {m.text}")

    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: problems.append(f"page error {e}"))
    page.on("requestfailed", lambda r: problems.append(f"failed {r.url}"))
    page.on("console", on_console)
    page.on("response", on_response)
    page.goto(url, wait_until="load")
    page.wait_for_function(_ALL_IMAGES_SETTLED)
    page.wait_for_function(_ALL_VIDEOS_SETTLED)

    assert not dialogs, f"a JavaScript dialog fired on {url}: {dialogs}"
    sections = page.locator("section.cluster")
    assert sections.count() == 3
    ids = [sections.nth(i).get_attribute("id") for i in range(3)]
    assert ids == ["cluster-0", "cluster-1", "cluster-2"]
    widths = page.evaluate(_IMAGE_WIDTHS)
    assert len(widths) == n_images and all(w > 0 for w in widths), (url, widths)
    videos = page.evaluate(_VIDEO_STATES)
    assert len(videos) == n_videos
    for v in videos:
        assert v["error"] is None and v["ready"] >= 1, (url, v)
        assert v["width"] == 160 and v["duration"] == pytest.approx(1.5, abs=0.1)
    assert page.locator("script").count() == 0
    sync_api.expect(page.get_by_text(HOSTILE, exact=True)).to_be_visible()
    sync_api.expect(page.locator("#cluster-1 h2")).to_contain_text(SCRIPT)
    assert not problems, (url, problems)
    page.close()


@pytest.mark.ui
@pytest.mark.timeout(180)
def test_gallery_loads_every_section_and_medium_in_chromium(served: str, gallery_dir: Path) -> None:
    """Over HTTP and from file://: three sections, every <img> decoded, every <video> (H.264
    yuv420p clips from tests/videogen.py; Debian's chromium decodes them) has its metadata and
    no error, no JavaScript dialog, no failed request or console error, and the hostile
    instruction shows as plain text.

    The page's CSP forbids scripts anyway, so "no dialog" alone would not prove the escaping;
    the DOM checks (no <script>, only the expected <img>s) do."""
    sync_api = playwright_sync_api()
    chromium = chromium_executable()
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            context.route("**/*", only_loopback)
            context.set_default_timeout(30_000)
            _check_in_browser(context, sync_api, served)
            _check_in_browser(context, sync_api, (gallery_dir / "index.html").as_uri())
        finally:
            browser.close()
