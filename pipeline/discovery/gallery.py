"""Pictures of the discovered primitives: a 2-D map of the segment embeddings coloured by cluster
(PNG) and a static, self-contained HTML gallery (one section per cluster, exemplar clips inline).

Pure rendering: functions take data and return bytes or str; nothing here reads or writes a
store. The discovery stage writes the results as ``publish/gallery/index.html``,
``publish/gallery/map.png`` and the exemplar clips as ``publish/gallery/clips/<segment_id>.mp4``,
so an exemplar's ``clip_href`` is the relative ``clips/<segment_id>.mp4``.

The map is a PCA projection (scikit-learn) only. UMAP is deliberately not used: ``umap-learn``
0.5.12 installs (with numba 0.68 and llvmlite 0.50, not otherwise dependencies), but on this
machine class importing it took 29.7 s and its first fit of 1000 x 64 points 17.2 s (numba JIT;
2.0 s warm), against about 1-3 s for the whole PCA map; PCA is also deterministic and its axes
carry an explained variance.

Every text that reaches the HTML (cluster names, instructions from a VLM, file names, summary
values) is escaped with ``html.escape``, attribute values too; the page carries a
Content-Security-Policy that forbids scripts and any fetch other than its own clips, so even a
missed escape could not run code or call out.
"""

from __future__ import annotations

import base64
import html
import io
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

MAP_DPI = 100
MAP_SIZE_PX = (960, 640)  # width, height of the map PNG
NOISE_COLOR = "0.7"  # clusters with a negative id (unclustered / noise) are drawn in grey
_MARKERS = ("o", "s", "^", "D", "v", "P")  # a new marker per 20 colours past the 20th cluster
_NAME_CHARS = 40  # legend entries are cut to this many characters
# A relative href: no scheme, no leading slash or backslash, no "." / ".." path parts.
_REL_HREF = re.compile(r"^(?![A-Za-z][A-Za-z0-9+.-]*:)(?![/\\])[^\\]+$")


# ---------------------------------------------------------------------------------------------
# the map


def _png(draw: Callable[[Any], None]) -> bytes:
    """A PNG of MAP_SIZE_PX drawn on a fresh Agg figure; no Software/date metadata, so the same
    drawing gives the same bytes (the approach of pipeline/publish/card.py)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    w, h = MAP_SIZE_PX
    fig = Figure(figsize=(w / MAP_DPI, h / MAP_DPI), dpi=MAP_DPI, layout="constrained")
    FigureCanvasAgg(fig)
    draw(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=MAP_DPI, metadata={"Software": None})
    return buf.getvalue()


def _plain(text: str, limit: int | None = None) -> str:
    """Text for matplotlib: ``$`` would start mathtext (and a lone one fails at draw time)."""
    text = " ".join(str(text).split())
    if limit is not None and len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.replace("$", r"\$")


def _message_png(title: str, message: str) -> bytes:
    def draw(fig: Any) -> None:
        ax = fig.subplots()
        ax.set_axis_off()
        ax.set_title(_plain(title))
        ax.text(0.5, 0.5, _plain(message), ha="center", va="center", wrap=True, fontsize=12)

    return _png(draw)


def _cluster_name(cid: int, names: Mapping[int, str]) -> str:
    if cid in names:
        return str(names[cid])
    return "unclustered" if cid < 0 else f"cluster {cid}"


def _style(rank: int, n_clusters: int) -> tuple[Any, str]:
    """Colour and marker of the ``rank``-th cluster: tab10 up to 10 clusters, tab20 up to 20,
    past 20 the colours repeat with a new marker shape."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n_clusters <= 10 else "tab20"]
    n_colors = 10 if n_clusters <= 10 else 20
    return cmap(rank % n_colors), _MARKERS[(rank // n_colors) % len(_MARKERS)]


def embedding_map_png(
    emb: np.ndarray,
    labels: np.ndarray,
    names: Mapping[int, str],
    *,
    title: str,
    seed: int = 0,
) -> bytes:
    """A PNG (MAP_SIZE_PX) of the embeddings projected to 2-D by PCA, one colour per cluster.

    emb: (n, d) segment embeddings; labels: (n,) integer cluster ids (negative = unclustered,
    drawn grey); names: cluster id -> name for the legend, which also shows each cluster's
    count. Axis labels give each component's share of the variance. Rows with non-finite values
    are left out (the title says how many). Fewer than 3 usable rows, fewer than 2 dimensions or
    identical embeddings give a PNG that says so instead of a map. The same input gives the same
    bytes (``seed`` fixes the PCA solver's randomness where it has any).
    """
    emb = np.asarray(emb)
    labels = np.asarray(labels)
    if emb.ndim != 2:
        raise ValueError(f"emb must be (n, d), got shape {emb.shape}")
    if labels.shape != (emb.shape[0],):
        raise ValueError(f"labels must be ({emb.shape[0]},) like emb's rows, got {labels.shape}")
    n, d = emb.shape
    finite = np.isfinite(emb).all(axis=1) if emb.size else np.ones(n, bool)
    x, y = emb[finite].astype(np.float64), labels[finite].astype(np.int64)
    dropped = int(n - finite.sum())
    note = f" ({dropped} with non-finite values left out)" if dropped else ""
    if x.shape[0] < 3:
        return _message_png(title, f"{x.shape[0]} segments{note}: a map needs at least 3")
    if d < 2:
        return _message_png(title, f"embeddings have {d} dimension(s): a map needs at least 2")
    if not np.ptp(x, axis=0).any():
        return _message_png(title, f"all {x.shape[0]} embeddings are identical: nothing to map")

    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, random_state=seed)
    xy = pca.fit_transform(x)
    ratio = pca.explained_variance_ratio_
    ids = sorted(set(y.tolist()), key=lambda c: (c < 0, c))  # clusters by id, noise last
    n_real = sum(1 for c in ids if c >= 0)
    size = float(np.clip(4000.0 / x.shape[0], 2.0, 40.0))  # marker area, points^2
    legend_scale = max(1.0, (36.0 / size) ** 0.5)  # legend markers as if s=36

    def draw(fig: Any) -> None:
        ax = fig.subplots()
        for rank, cid in enumerate(ids):
            sel = y == cid
            if cid < 0:
                color, marker = NOISE_COLOR, "."
            else:
                color, marker = _style(rank, n_real)
            label = f"{_plain(_cluster_name(cid, names), _NAME_CHARS)} ({int(sel.sum())})"
            ax.scatter(
                xy[sel, 0], xy[sel, 1], s=size, color=color, marker=marker,
                linewidths=0, alpha=0.85, label=label, zorder=1 if cid < 0 else 2,
            )  # fmt: skip
        ax.set_xlabel(f"PC 1 ({100 * ratio[0]:.1f} % of variance)")
        ax.set_ylabel(f"PC 2 ({100 * ratio[1]:.1f} % of variance)")
        ax.set_title(_plain(f"{title} — {x.shape[0]} segments, {n_real} clusters{note}"))
        ax.grid(True, lw=0.3, color="0.9")
        ax.legend(
            loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small", frameon=False,
            markerscale=legend_scale, ncol=1 if len(ids) <= 20 else 2, title="cluster (segments)",
        )  # fmt: skip

    return _png(draw)


# ---------------------------------------------------------------------------------------------
# the gallery


@dataclass(frozen=True)
class GalleryExemplar:
    """One exemplar segment of a cluster, as the gallery shows it."""

    segment_id: str
    video: str  # the source video's file name
    start_sec: float
    end_sec: float
    distance: float  # to the cluster's centroid, in embedding units
    clip_href: str | None = None  # relative, e.g. "clips/<segment_id>.mp4"; None: no clip
    strip_jpeg: bytes | None = None  # a keyframe strip (JPEG), embedded as a data: URI
    instruction: str | None = None  # untrusted (a VLM's words): always shown escaped

    def __post_init__(self) -> None:
        href = self.clip_href
        if href is not None and (
            not _REL_HREF.match(href) or any(p in (".", "..") for p in href.split("/"))
        ):
            raise ValueError(f"clip_href must be a relative path inside the gallery: {href!r}")


@dataclass(frozen=True)
class GalleryCluster:
    """One cluster (primitive): its name, counts and a few exemplars."""

    cluster_id: int
    name: str
    size: int  # segments in the cluster
    hours: float  # their total duration
    median_duration_s: float
    share: float  # fraction of all segments, 0..1
    exemplars: Sequence[GalleryExemplar] = ()


_CSP = (
    "default-src 'none'; img-src data:; media-src 'self'; style-src 'unsafe-inline'; "
    "base-uri 'none'; form-action 'none'"
)
_CSS = """
body{font-family:system-ui,sans-serif;margin:1.5rem auto;max-width:72rem;padding:0 1rem;
color:#222;background:#fff}
h1{margin-bottom:.3rem}
table.summary{border-collapse:collapse;margin:.5rem 0 1rem}
table.summary th,table.summary td{text-align:left;padding:.15rem .8rem .15rem 0;
vertical-align:top}
img.map{max-width:100%;height:auto;border:1px solid #ddd}
nav ol{columns:2;padding-left:1.5rem}
section.cluster{border-top:2px solid #ccc;margin-top:1.5rem;padding-top:.5rem}
section.cluster h2{margin:.2rem 0}
.cid{color:#888;font-size:.8em;font-weight:normal}
.stats{color:#555;margin:.2rem 0 .6rem}
.exemplars{display:flex;flex-wrap:wrap;gap:1rem}
figure.exemplar{margin:0;width:22rem;border:1px solid #e4e4e4;padding:.5rem;background:#fafafa}
figure.exemplar video,figure.exemplar img{display:block;width:100%;height:auto;
margin-bottom:.3rem;background:#000}
figcaption .instruction{margin:.2rem 0;font-style:italic;white-space:pre-wrap;
overflow-wrap:anywhere}
figcaption .meta{color:#666;font-size:.85em;overflow-wrap:anywhere}
.nomedia{color:#999}
"""


def _e(value: object) -> str:
    """HTML-escaped text, safe in element content and in double-quoted attribute values."""
    return html.escape(str(value), quote=True)


def _num(value: float, fmt: str) -> str:
    return format(value, fmt) if math.isfinite(value) else "–"


def _data_uri(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _exemplar_html(ex: GalleryExemplar) -> str:
    span = f"{_num(ex.start_sec, '.2f')}–{_num(ex.end_sec, '.2f')} s"
    media = []
    if ex.clip_href is not None:
        media.append(
            f'<video controls muted loop preload="metadata" src="{_e(ex.clip_href)}"></video>'
        )
    if ex.strip_jpeg is not None:
        alt = f"keyframes of {ex.video} {span}"
        media.append(
            f'<img class="strip" src="{_data_uri("image/jpeg", ex.strip_jpeg)}" alt="{_e(alt)}">'
        )
    if not media:
        media.append('<p class="nomedia">no clip or keyframes</p>')
    instruction = (
        f'<p class="instruction">{_e(ex.instruction)}</p>' if ex.instruction is not None else ""
    )
    meta = (
        f'<span class="video">{_e(ex.video)}</span> · {_e(span)} · '
        f"distance {_e(_num(ex.distance, '.3g'))} · "
        f'<span class="segment">{_e(ex.segment_id)}</span>'
    )
    return (
        f'<figure class="exemplar" id="segment-{_e(ex.segment_id)}">{"".join(media)}'
        f'<figcaption>{instruction}<p class="meta">{meta}</p></figcaption></figure>'
    )


def _cluster_html(c: GalleryCluster) -> str:
    cid = int(c.cluster_id)
    stats = (
        f"{int(c.size)} segments · {_num(100 * c.share, '.1f')} % of all · "
        f"{_num(c.hours, '.2f')} h · median duration {_num(c.median_duration_s, '.1f')} s"
    )
    figures = "\n".join(_exemplar_html(ex) for ex in c.exemplars)
    return (
        f'<section id="cluster-{cid}" class="cluster">\n'
        f'<h2>{_e(c.name)} <span class="cid">cluster {cid}</span></h2>\n'
        f'<p class="stats">{_e(stats)}</p>\n'
        f'<div class="exemplars">\n{figures}\n</div>\n</section>'
    )


def gallery_html(
    clusters: Sequence[GalleryCluster],
    *,
    title: str,
    map_png: bytes | None,
    summary: Mapping[str, str],
) -> str:
    """A static, self-contained HTML page: the title, a summary table, the map (inline PNG), a
    table of contents and one ``<section id="cluster-<id>" class="cluster">`` per cluster, in the
    order given. Clips are referenced by their relative ``clip_href``; everything else is
    inline. No JavaScript, no external CSS or fonts. The same input gives the same text."""
    ids = [int(c.cluster_id) for c in clusters]
    if len(set(ids)) != len(ids):
        raise ValueError(f"cluster ids must be unique, got {ids}")
    rows = "\n".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in summary.items())
    summary_html = f'<table class="summary">\n{rows}\n</table>' if rows else ""
    map_html = (
        f'<figure><img class="map" src="{_data_uri("image/png", map_png)}" '
        f'alt="embedding map coloured by cluster"></figure>'
        if map_png is not None
        else ""
    )
    toc = "\n".join(
        f'<li><a href="#cluster-{int(c.cluster_id)}">{_e(c.name)}</a> ({int(c.size)} segments)</li>'
        for c in clusters
    )
    sections = "\n".join(_cluster_html(c) for c in clusters)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<link rel="icon" href="data:,">\n'  # no favicon request
        f"<title>{_e(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        f"<h1>{_e(title)}</h1>\n{summary_html}\n{map_html}\n"
        f"<nav><h2>Clusters</h2>\n<ol>\n{toc}\n</ol></nav>\n"
        f"<main>\n{sections}\n</main>\n</body>\n</html>\n"
    )
