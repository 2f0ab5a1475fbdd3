"""Every storage key template of the store, in one module (path templates, never globbing to
find outputs), and the one rule that names a video's outputs (its stem).

Layout of a store (local folder or ``s3://bucket/prefix``)::

    tables/<table>/date=D/station=S/part-0.parquet          every table (pipeline.io.tables)
    tracks/<fingerprint>/date=D/station=S/<vid16>-c<chunk>-p<part>.npz, ...-c<chunk>.done.json
    models/tokenizer/<version>/tokenizer.pt, loss.csv, loss.png, training.json
    models/tokenizer/current.json                            pointer to the checkpoint in use
    segments/date=D/station=S/<stem>.segments.json           one segment file per video
    clips/date=D/station=S/<vid16>/<segment_id>.mp4          one clip per segment
    plots/date=D/station=S/<stem>.energy.png                 one energy plot per video
    labels/cache/<model16>/<segment_id>.json                 one VLM answer (pipeline.language)
    models/primitive_library/<version>/library.npz, library.json, encoder.pt, map.png
    models/primitive_library/current.json                    pointer to the library in use

The training-data outputs of the publish stage (``pipeline.publish``) all live under
``publish/``, so that folder can be copied or synced as one dataset (the card sits next to the
shards)::

    publish/
      README.md                                             dataset card (all partitions)
      card/segment_durations.png                            histogram of segment durations
      card/code_usage.png                                   how often each code is used
      shard_index.parquet                                   every shard of every partition
      clusters.parquet                                      the library's clusters (names, sizes)
      gallery/index.html, map.png, clips/<segment_id>.mp4   the cluster gallery and its exemplars
      shards/date=D/station=S/clips-000000.tar              WebDataset shard, a sample per segment
      shards/date=D/station=S/clips-000000.parquet          sidecar: one row per sample (+ skipped)
      shards/date=D/station=S/index.parquet                 the partition's shards (name, samples,
                                                            bytes, sha256)
      shards/date=D/station=S/index.json                    the same plus skipped segments, totals
      dataset/date=D/station=S/part-0.parquet               one row per published segment
      latent_actions/date=D/station=S/steps.jsonl           one line per 0.1 s step (LAPA style)
      lerobot/                                              reserved for the LeRobot v3 export

Shards of a partition are numbered from 0 in sample order; a rerun writes the same names. The
keys of one partition all sit under ``.../date=D/station=S/`` (trailing slash), so a partition
never touches another's files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from pathlib import PurePosixPath
from typing import Any

TABLES_PREFIX = "tables"
PART_FILE = "part-0.parquet"
TRACKS_PREFIX = "tracks"
TOKENIZER_PREFIX = "models/tokenizer"
TOKENIZER_CURRENT = f"{TOKENIZER_PREFIX}/current.json"
SEGMENT_SUFFIX = ".segments.json"
ENERGY_PLOT_SUFFIX = ".energy.png"


def partition_dir(date: str, station: str) -> str:
    """The hive folder of one partition: ``date=D/station=S``; ValueError for a date or station
    that cannot name a folder (``validate_partition``: no ``/``, ``..``, ``=`` or spaces)."""
    from pipeline.io.tables import validate_partition  # tables imports this module

    validate_partition(date, station)
    return f"date={date}/station={station}"


def table_key(table: str, date: str, station: str) -> str:
    return f"{TABLES_PREFIX}/{table}/{partition_dir(date, station)}/{PART_FILE}"


def tracks_key(
    fingerprint: str,
    date: str,
    station: str,
    video_id: str,
    chunk_index: int,
    part: int | None = None,
) -> str:
    """One part of a chunk's tracks (``part=None``: the chunk's completion marker)."""
    base = (
        f"{TRACKS_PREFIX}/{fingerprint}/{partition_dir(date, station)}/"
        f"{video_id[:16]}-c{chunk_index:05d}"
    )
    return f"{base}.done.json" if part is None else f"{base}-p{part:03d}.npz"


def tokenizer_key(version: str, name: str) -> str:
    """A file of one trained tokenizer (``tokenizer.pt``, ``loss.csv``, ...)."""
    return f"{TOKENIZER_PREFIX}/{version}/{name}"


def segments_prefix(date: str, station: str) -> str:
    return f"segments/{partition_dir(date, station)}/"


def segment_file_key(date: str, station: str, stem: str) -> str:
    return f"{segments_prefix(date, station)}{stem}{SEGMENT_SUFFIX}"


def clips_prefix(date: str, station: str) -> str:
    return f"clips/{partition_dir(date, station)}/"


def clip_key(date: str, station: str, video_id: str, segment_id: str) -> str:
    return f"{clips_prefix(date, station)}{video_id[:16]}/{segment_id}.mp4"


def plots_prefix(date: str, station: str) -> str:
    return f"plots/{partition_dir(date, station)}/"


def energy_plot_key(date: str, station: str, stem: str) -> str:
    return f"{plots_prefix(date, station)}{stem}{ENERGY_PLOT_SUFFIX}"


def file_stem(file_name: str) -> str:
    """``"cam1/0001.mp4"`` -> ``"0001"``: the file name without folders and last suffix."""
    return PurePosixPath(file_name).stem


_UNSAFE_IN_KEYS = re.compile(r"[\\\x00-\x1f\x7f]")
# a stem plus "-<video_id[:8]>" and ".segments.json" stays under the 255-byte file name limit
MAX_STEM_BYTES = 200


def output_stem(file_name: str) -> str:
    """``file_stem`` made safe to name store objects: backslashes (also those ``printable``
    writes for bytes that are not UTF-8) and control characters become ``_``; cut to
    ``MAX_STEM_BYTES`` of UTF-8 (a 250-byte video name made a segment file name too long)."""
    stem = _UNSAFE_IN_KEYS.sub("_", file_stem(file_name)) or "_"
    while len(stem.encode("utf-8", "surrogatepass")) > MAX_STEM_BYTES:
        stem = stem[:-1]
    return stem


def video_stems(videos: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """video_id -> the stem that names the video's outputs (segment file, plot, baselines).

    The file's ``output_stem``, except that a stem two videos of the partition share gets
    ``-<video_id[:8]>`` appended (again, while another video's name is already that), so no two
    videos ever write the same key."""
    rows = list(videos)
    counts: dict[str, int] = {}
    for v in rows:
        stem = output_stem(v["file_name"])
        counts[stem] = counts.get(stem, 0) + 1
    taken = {stem for stem, n in counts.items() if n == 1}
    out = {}
    for v in sorted(rows, key=lambda r: r["video_id"]):
        stem = output_stem(v["file_name"])
        if counts[stem] == 1:
            out[v["video_id"]] = stem
            continue
        name = f"{stem}-{v['video_id'][:8]}"
        while name in taken:  # e.g. a.mp4 and a.mov beside a file named a-<their id8>.mp4
            name += f"-{v['video_id'][:8]}"
        taken.add(name)
        out[v["video_id"]] = name
    return out


def store_video_stems(videos: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """``video_stems`` of each (date, station) partition of rows that carry ``date`` and
    ``station`` (a whole store's videos table): the names their segment files have."""
    rows = list(videos)
    out: dict[str, str] = {}
    for part in sorted({(r["date"], r["station"]) for r in rows}):
        out |= video_stems(r for r in rows if (r["date"], r["station"]) == part)
    return out


# --- publish (pipeline.publish): WebDataset shards, Parquet dataset, JSONL, dataset card ---
PUBLISH_ROOT = "publish"
SHARDS_DIR = "shards"
DATASET_DIR = "dataset"
LATENT_ACTIONS_DIR = "latent_actions"
CARD_DIR = "card"
LEROBOT_DIR = "lerobot"  # reserved: the LeRobot v3 export (separate work)

SHARD_TEMPLATE = "clips-{index:06d}.tar"
SIDECAR_SUFFIX = ".parquet"
SHARD_INDEX_NAME = "index.parquet"
SHARD_MANIFEST_NAME = "index.json"
DATASET_PART = "part-0.parquet"
STEPS_NAME = "steps.jsonl"

CARD_KEY = f"{PUBLISH_ROOT}/README.md"
DURATIONS_PNG_KEY = f"{PUBLISH_ROOT}/{CARD_DIR}/segment_durations.png"
CODE_USAGE_PNG_KEY = f"{PUBLISH_ROOT}/{CARD_DIR}/code_usage.png"
STORE_SHARD_INDEX_KEY = f"{PUBLISH_ROOT}/shard_index.parquet"

_SHARD_RE = re.compile(r"^clips-(\d{6,})\.tar$")
_PARTITION_RE = re.compile(r"/date=([^/]+)/station=([^/]+)/")


def publish_dir(kind: str, date: str, station: str) -> str:
    """``publish/<kind>/date=D/station=S`` (no trailing slash)."""
    from pipeline.io.tables import validate_partition  # tables imports this module

    validate_partition(date, station)
    return f"{PUBLISH_ROOT}/{kind}/date={date}/station={station}"


def publish_prefix(kind: str, date: str, station: str) -> str:
    """The listing prefix of one partition's files of ``kind`` (with trailing slash)."""
    return publish_dir(kind, date, station) + "/"


def shard_name(index: int) -> str:
    """``clips-000000.tar`` for shard ``index`` of a partition."""
    if index < 0:
        raise ValueError(f"shard index must be >= 0, got {index}")
    return SHARD_TEMPLATE.format(index=index)


def shard_number(name: str) -> int:
    """The index in a shard file name (inverse of ``shard_name``); ValueError otherwise."""
    m = _SHARD_RE.match(name)
    if m is None:
        raise ValueError(f"not a shard name: {name!r}")
    return int(m.group(1))


def sidecar_name(shard: str) -> str:
    """``clips-000000.parquet``: the per-sample table beside shard ``clips-000000.tar``."""
    shard_number(shard)
    return shard[: -len(".tar")] + SIDECAR_SUFFIX


def shard_key(date: str, station: str, shard: str) -> str:
    return f"{publish_dir(SHARDS_DIR, date, station)}/{shard}"


def sidecar_key(date: str, station: str, shard: str) -> str:
    return f"{publish_dir(SHARDS_DIR, date, station)}/{sidecar_name(shard)}"


def shard_index_key(date: str, station: str) -> str:
    return f"{publish_dir(SHARDS_DIR, date, station)}/{SHARD_INDEX_NAME}"


def shard_manifest_key(date: str, station: str) -> str:
    return f"{publish_dir(SHARDS_DIR, date, station)}/{SHARD_MANIFEST_NAME}"


def dataset_key(date: str, station: str) -> str:
    return f"{publish_dir(DATASET_DIR, date, station)}/{DATASET_PART}"


def steps_key(date: str, station: str) -> str:
    return f"{publish_dir(LATENT_ACTIONS_DIR, date, station)}/{STEPS_NAME}"


def relative_to_root(key: str) -> str:
    """A publish key relative to the publish root (what the card and indexes print)."""
    prefix = PUBLISH_ROOT + "/"
    if not key.startswith(prefix):
        raise ValueError(f"{key!r} is not under {prefix!r}")
    return key[len(prefix) :]


def partition_of(key: str) -> tuple[str, str] | None:
    """(date, station) of a key under a hive partition folder, or None."""
    m = _PARTITION_RE.search(key)
    return (m.group(1), m.group(2)) if m else None


# --- language labels (pipeline.language): the VLM answer cache ----------------------------
LABEL_CACHE_PREFIX = "labels/cache"
_SEGMENT_ID_RE = re.compile(r"^[0-9A-Za-z_-]{1,128}$")


def label_cache_dir(model: str, prompt_version: str) -> str:
    """``labels/cache/<model16>``: the answers of one model and prompt version, where
    ``model16`` = the first 16 hex of sha256 of ``"<model>|<prompt_version>"`` (a model name
    such as ``Qwen/Qwen2.5-VL-7B-Instruct`` or ``qwen2.5vl:7b`` cannot name a folder)."""
    import hashlib

    digest = hashlib.sha256(f"{model}|{prompt_version}".encode()).hexdigest()[:16]
    return f"{LABEL_CACHE_PREFIX}/{digest}"


def label_cache_key(model: str, prompt_version: str, segment_id: str) -> str:
    """The cached answer for one segment; ValueError for a segment id that is not 1..128 of
    ``[0-9A-Za-z_-]`` (segment ids are hex)."""
    if not isinstance(segment_id, str) or not _SEGMENT_ID_RE.match(segment_id):
        raise ValueError(f"segment_id must be 1..128 of [0-9A-Za-z_-], got {segment_id!r}")
    return f"{label_cache_dir(model, prompt_version)}/{segment_id}.json"


# --- primitive discovery (pipeline.discovery): the library and its pictures ---------------
LIBRARY_PREFIX = "models/primitive_library"
LIBRARY_CURRENT = f"{LIBRARY_PREFIX}/current.json"  # pointer to the library in use, written last
GALLERY_PREFIX = "publish/gallery"
GALLERY_KEY = f"{GALLERY_PREFIX}/index.html"
GALLERY_MAP_KEY = f"{GALLERY_PREFIX}/map.png"
CLUSTERS_KEY = "publish/clusters.parquet"


def library_key(version: str, name: str) -> str:
    """A file of one library version: ``library.npz``, ``library.json``, ``encoder.pt``,
    ``map.png``."""
    return f"{LIBRARY_PREFIX}/{version}/{name}"


def gallery_clip_key(segment_id: str) -> str:
    return f"{GALLERY_PREFIX}/clips/{segment_id}.mp4"
