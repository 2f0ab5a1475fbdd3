"""The dataset card: ``publish/README.md`` with two PNGs and the store-wide shard index.

Rewritten by every publish from ALL published partitions (those with a
``publish/dataset/date=D/station=S/part-0.parquet``), so its counts cover the whole store:
segments, steps, hours of source video (``videos`` table) and of segments, stations, dates,
codebook, tokenizer versions, segmenters, shards, skipped segments, the Parquet schema, the
layout and copy-paste loading snippets (``pipeline.publish.snippets``). It writes, in order:
``publish/shard_index.parquet`` (every shard: date, station, shard, path relative to the
publish root, samples, bytes, sha256), ``card/segment_durations.png``, ``card/code_usage.png``,
then ``README.md``. Two partitions published at the same time may each write a card missing
the other's newest rows; the next publish (or a card-only run) repairs it.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline.errors import StorageKeyError
from pipeline.io import keys as layout
from pipeline.io.storage import Storage
from pipeline.io.tables import read_partition
from pipeline.publish.dataset import DATASET, DATASET_FIELDS, DATASET_VERSION, HIVE_FIELDS
from pipeline.publish.index import read_shard_index
from pipeline.publish.shards import parquet_bytes
from pipeline.publish.snippets import lerobot_snippet, snippets

log = logging.getLogger(__name__)

STORE_INDEX_VERSION = 1
STORE_INDEX = pa.schema(
    [
        pa.field("date", pa.string(), nullable=False),
        pa.field("station", pa.string(), nullable=False),
        pa.field("shard", pa.string(), nullable=False),
        pa.field("path", pa.string(), nullable=False),  # relative to the publish root
        pa.field("samples", pa.int32(), nullable=False),
        pa.field("bytes", pa.int64(), nullable=False),
        pa.field("sha256", pa.string(), nullable=False),
    ]
)


@dataclass(frozen=True)
class Published:
    """Everything the card shows, read from the store."""

    partitions: list[tuple[str, str]]
    segments: pa.Table  # the Parquet dataset of every partition, with date and station
    shards: pa.Table  # STORE_INDEX rows
    video_hours: float
    skipped: int


def published_partitions(store: Storage) -> list[tuple[str, str]]:
    """(date, station) of every partition with a dataset file, sorted."""
    prefix = f"{layout.PUBLISH_ROOT}/{layout.DATASET_DIR}/"
    found = {layout.partition_of(i.key) for i in store.list(prefix, suffixes=(".parquet",))}
    return sorted(p for p in found if p is not None)


def _with_partition(table: pa.Table, date: str, station: str) -> pa.Table:
    n = table.num_rows
    table = table.append_column("date", pa.array([date] * n, pa.string()))
    return table.append_column("station", pa.array([station] * n, pa.string()))


def _shard_rows(store: Storage, date: str, station: str) -> list[dict[str, Any]]:
    index = read_shard_index(store, date, station)
    rows = [] if index is None else index.to_pylist()
    for r in rows:
        r.update(date=date, station=station)
        r["path"] = layout.relative_to_root(layout.shard_key(date, station, r["shard"]))
    return rows


def _skipped(store: Storage, date: str, station: str) -> int:
    try:
        manifest = json.loads(store.read_bytes(layout.shard_manifest_key(date, station)))
    except StorageKeyError:
        return 0
    return len(manifest.get("skipped", []))


def _video_seconds(store: Storage, date: str, station: str) -> float:
    videos = read_partition(store, "videos", date, station)
    if videos is None:
        log.warning("%s/%s: no videos table; its video hours count as 0", date, station)
        return 0.0
    return float(sum(videos.column("duration_sec").to_pylist()))


def read_published(store: Storage) -> Published:
    parts, tables, shard_rows = published_partitions(store), [], []
    video_s, skipped = 0.0, 0
    for date, station in parts:
        data = store.read_bytes(layout.dataset_key(date, station))
        tables.append(_with_partition(pq.read_table(io.BytesIO(data)), date, station))
        shard_rows += _shard_rows(store, date, station)
        video_s += _video_seconds(store, date, station)
        skipped += _skipped(store, date, station)
    empty = _with_partition(DATASET.empty_table(), "", "")
    segments = pa.concat_tables(tables) if tables else empty
    shards = pa.Table.from_pylist(shard_rows, schema=STORE_INDEX)
    return Published(parts, segments, shards, video_s / 3600, skipped)


def _png(draw: Callable[[Any], None]) -> bytes:
    """A small PNG drawn on a fresh Agg figure (matplotlib imported on first use)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5, 3), dpi=100)
    FigureCanvasAgg(fig)
    draw(fig.subplots())
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _durations_png(durations: np.ndarray) -> bytes:
    def draw(ax: Any) -> None:
        ax.hist(durations, bins=min(30, max(1, durations.size)), color="#4c72b0")
        ax.set(xlabel="segment duration (s)", ylabel="segments", title="Segment durations")

    return _png(draw)


def _codes_png(counts: np.ndarray) -> bytes:
    def draw(ax: Any) -> None:
        # one filled step patch, not a bar per code (a bar is a patch: 1,000 codes took seconds)
        edges = np.arange(counts.size + 1) - 0.5
        ax.stairs(counts, edges, fill=True, color="#55a868")
        ax.set_xlim(-0.5, max(counts.size, 1) - 0.5)
        ax.set(xlabel="code", ylabel="steps", title=f"Code usage ({int((counts > 0).sum())} used)")

    return _png(draw)


def _stats(pub: Published) -> dict[str, Any]:
    seg = pub.segments
    col = (lambda name: seg.column(name).to_pylist()) if seg.num_rows else (lambda _n: [])
    durations = np.asarray(col("end_sec"), float) - np.asarray(col("start_sec"), float)
    sizes = sorted(set(col("codebook_size")))
    codes = np.concatenate([np.asarray(c, np.int64) for c in col("codes")] or [np.zeros(0, int)])
    size = max([*sizes, int(codes.max()) + 1 if codes.size else 0])
    counts = np.bincount(codes.clip(0), minlength=size)  # negative codes fail the checks
    dates = sorted(set(col("date")))
    return {
        "partitions": len(pub.partitions),
        "segments": seg.num_rows,
        "steps": int(sum(col("num_steps"))),
        "video_hours": round(pub.video_hours, 4),
        "segment_hours": round(float(durations.sum()) / 3600, 4),
        "stations": sorted(set(col("station"))),
        "date_range": [dates[0], dates[-1]] if dates else [],
        "shards": pub.shards.num_rows,
        "shard_bytes": int(sum(pub.shards.column("bytes").to_pylist())),
        "skipped": pub.skipped,
        "codebook_sizes": sizes,
        "fsq_levels": sorted({tuple(v) for v in col("fsq_levels")}),
        "tokenizer_versions": sorted(set(col("tokenizer_version"))),
        "segmenters": sorted(set(col("segmenter"))),
        "codes_used": int((counts > 0).sum()),
        "instructions": sum(1 for v in col("instruction") if v),
        "_durations": durations,
        "_code_counts": counts,
    }


def _join(values: list[Any]) -> str:
    return ", ".join(f"`{v}`" for v in values) if values else "none"


def _counts_table(s: dict[str, Any]) -> list[str]:
    dates = " to ".join(s["date_range"]) or "none"
    levels = _join([",".join(map(str, lv)) for lv in s["fsq_levels"]])
    rows = [
        ("segments", f"{s['segments']:,}"),
        ("latent-action steps (0.1 s each)", f"{s['steps']:,}"),
        ("hours of source video", f"{s['video_hours']:.3f}"),
        ("hours in segments", f"{s['segment_hours']:.3f}"),
        ("stations", f"{len(s['stations'])}: {_join(s['stations'])}"),
        ("dates", dates),
        ("partitions (date x station)", str(s["partitions"])),
        ("WebDataset shards", f"{s['shards']} ({s['shard_bytes'] / 1e6:.1f} MB)"),
        ("segments skipped (no clip; listed in `index.json`)", str(s["skipped"])),
        ("codebook size", f"{_join(s['codebook_sizes'])} (FSQ levels {levels}); "
         f"{s['codes_used']} codes used"),
        ("tokenizer version(s)", _join(s["tokenizer_versions"])),
        ("segmenter(s)", _join(s["segmenters"])),
        ("primitive clusters", _clusters_cell(s.get("library"))),
        ("segments with an instruction", f"{s.get('instructions', 0):,}"),
    ]  # fmt: skip
    return ["| | |", "|---|---|", *[f"| {k} | {v} |" for k, v in rows]]


def _clusters_cell(lib: dict[str, Any] | None) -> str:
    if not lib or not lib.get("library_version"):
        return "none yet (`cluster_id` and `cluster_name` are null until a library is fitted)"
    return (f"{lib['k']} (library `{lib['library_version']}`, {lib['embedding']} embedding); "
            "see below and [the gallery](gallery/index.html)")  # fmt: skip


def _clusters_section(lib: dict[str, Any] | None) -> list[str]:
    """The card's section on the primitive library: the clusters and ICSS."""
    if not lib or not lib.get("library_version"):
        return []
    lines = [
        "## Primitive clusters",
        "",
        f"Library `{lib['library_version']}` ({lib['embedding']} embedding, k = {lib['k']}, "
        f"{lib['assigned']:,} segments assigned); `clusters.parquet` has one row per cluster "
        "with its exemplar segment ids; [gallery](gallery/index.html) (exemplar clips, keyframe "
        "strips, instructions) and [embedding map](gallery/map.png).",
        "",
        "| cluster_id | cluster_name | segments | share | hours | median duration (s) |",
        "|---|---|---|---|---|---|",
    ]
    for c in lib["clusters"]:
        med = c["median_duration_sec"]
        lines.append(
            f"| {c['cluster_id']} | `{c['cluster_name']}` | {c['size']:,} | {c['share']:.1%} | "
            f"{c['hours']:.3f} | {'' if med is None else f'{med:.2f}'} |"
        )
    icss = lib.get("icss") or {}
    lines += ["", "### Semantic coherence (ICSS)", ""]
    if icss.get("markdown"):
        lines.append(icss["markdown"])
    else:
        lines.append(f"not computed: {icss.get('error', 'no clips')}")
    return [*lines, ""]


def _schema_table() -> list[str]:
    lines = ["| column | type | nullable | description |", "|---|---|---|---|"]
    for name, typ, nullable, desc in DATASET_FIELDS:
        cell = desc.replace("|", "\\|")  # a bare | would end the Markdown cell
        lines.append(f"| `{name}` | `{typ}` | {'yes' if nullable else 'no'} | {cell} |")
    for name, typ, desc in HIVE_FIELDS:
        lines.append(f"| `{name}` | {typ} | no | {desc} |")
    return lines


LAYOUT = """\
```text
README.md                                     this card
card/segment_durations.png, card/code_usage.png
shard_index.parquet                           every shard: date, station, path, samples, sha256
clusters.parquet                              the primitive clusters: name, size, exemplars
gallery/index.html, gallery/map.png           cluster gallery (clips in gallery/clips/)
shards/date=D/station=S/clips-000000.tar      WebDataset shard
shards/date=D/station=S/clips-000000.parquet  per-sample sidecar: key, member sizes, status
shards/date=D/station=S/index.parquet         the partition's shards (+ index.json: skipped)
dataset/date=D/station=S/part-0.parquet       one row per segment (schema below)
latent_actions/date=D/station=S/steps.jsonl   one line per 0.1 s step
```"""

SAMPLE = """\
One sample per segment, key = `segment_id` (32 hex): `mp4` (H.264 clip of source frames
`[start_frame, end_frame)` at the source frame rate; clip frame `k` is source frame
`start_frame + k`, time `k / fps`), `json` (the row's metadata plus `step_frames`),
`codes.npy` (int16, one code per 0.1 s step), `latent.npy` (float16, steps x `latent_dim`, the
pre-quantization latent averaged over the windows covering each step). JSONL lines reference a
step's frames as `frame.clip`/`frame.source` and the frame it moves to as
`frame.clip_next`/`frame.source_next` (the clip's last frame for a segment's last step)."""


def render_card(s: dict[str, Any], root: str) -> str:
    """The card's Markdown for stats ``s`` of a publish root (local path or s3:// URI)."""
    lines = [
        "# LAPS latent-action segments",
        "",
        "Action-primitive segments of workstation video with latent-action codes, made without "
        "human labels by laps-pipeline (`publish_partition`). Parquet dataset schema_version "
        f"{DATASET_VERSION}. Root: `{root}`.",
        "",
        *_counts_table(s),
        "",
        "![segment durations](card/segment_durations.png) ![code usage](card/code_usage.png)",
        "",
        *_clusters_section(s.get("library")),
        "## Layout",
        "",
        LAYOUT,
        "",
        "## Samples",
        "",
        SAMPLE,
        "",
        "## Parquet schema (`dataset/`)",
        "",
        *_schema_table(),
        "",
        "## Loading",
        "",
        "Each block runs as written (`ROOT` is this dataset's root; for `s3://` roots "
        "credentials and `AWS_ENDPOINT_URL` come from the usual `AWS_*` environment variables, "
        "and shards are streamed with boto3).",
    ]
    for title, code in snippets(root).items():
        lines += ["", f"### {title}", "", "```python", code.rstrip("\n"), "```"]
    lines += [
        "",
        "### LeRobot v3",
        "",
        "`laps export lerobot` writes a LeRobot v3.0 dataset under `lerobot/` (one episode per "
        "segment, one frame per 0.1 s step, `action.latent` = the step's code); then:",
        "",
        "```python",
        lerobot_snippet(root).rstrip("\n"),
        "```",
        "",
    ]
    return "\n".join(lines)


def write_card(store: Storage, library: dict[str, Any] | None = None) -> dict[str, Any]:
    """Rewrite the store's shard index, PNGs and README.md (module doc); returns the stats.
    ``library``: what ``pipeline.discovery.outputs.write_library_outputs`` returned (the
    clusters section; none without it)."""
    pub = read_published(store)
    store.write_bytes(layout.STORE_SHARD_INDEX_KEY, parquet_bytes(pub.shards, STORE_INDEX_VERSION))
    s = _stats(pub)
    s["library"] = library
    store.write_bytes(layout.DURATIONS_PNG_KEY, _durations_png(s.pop("_durations")))
    store.write_bytes(layout.CODE_USAGE_PNG_KEY, _codes_png(s.pop("_code_counts")))
    root = store.uri(layout.PUBLISH_ROOT)
    store.write_bytes(layout.CARD_KEY, render_card(s, root).encode())
    log.info("wrote %s (%d segments, %d partitions)", store.uri(layout.CARD_KEY), s["segments"],
             s["partitions"])  # fmt: skip
    s["fsq_levels"] = [list(v) for v in s["fsq_levels"]]
    return s
