"""Standard Dagster metadata of every asset: owners, tags, code versions, column schemas,
rounded floats and a small inline clip preview.

- ``OWNERS``: the team that answers for each stage's output (``team:data-eng`` runs the data
  path: ingest, tracks, segments and what is published; ``team:ml`` owns the learned parts: the
  tokenizer and its codes, the VLM labels, the primitive library and its clusters).
- ``standard(stage)``: the ``owners``, ``tags`` (``stage``, plus ``gpu`` for the tokenizer/codes
  pool and ``vlm`` for the labels) and ``code_version`` of an asset of that stage, as keyword
  arguments of ``dg.asset`` / ``dg.AssetSpec``.
- Code versions come from the fingerprints of the config sections the stage reads (defaults, as
  the code location loads them) and the versions of the tables it writes, so an asset shows as
  changed exactly when its stage would compute something else; they never change between runs.
- ``column_schema(schema)``: a ``pa.Schema`` as ``dg.TableSchema`` (type strings, nullability as
  constraints, descriptions), attached as definition metadata so the UI lists columns before any
  run.
- ``rounded(meta)``: every float of a metadata dict (also inside JSON values) to 4 significant
  digits.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Mapping
from typing import Any

import dagster as dg
import pyarrow as pa

from assets.executors import pool_op_tags
from pipeline.config import FrozenConfig
from pipeline.io import schemas
from pipeline.io.video import FRAME_SAMPLING_VERSION
from pipeline.publish.dataset import DATASET_VERSION
from pipeline.publish.lerobot_files import EXPORT_SCHEMA_VERSION
from pipeline.stages import PipelineConfig

DATA_ENG = "team:data-eng"
ML = "team:ml"
# stage (``pipeline.stages.STAGE_NAMES``, plus ``export``) -> the owning team
OWNERS: dict[str, str] = {
    "ingest": DATA_ENG,
    "chunks": DATA_ENG,
    "tracks": DATA_ENG,
    "tokenizer": ML,
    "codes": ML,
    "segments": DATA_ENG,
    "labels": ML,
    "library": ML,
    "clusters": ML,
    "publish": DATA_ENG,
    "card": DATA_ENG,
    "export": DATA_ENG,
}
# tags beside ``stage``: the pool a stage's work needs (a tag with an empty value shows as its key)
POOL_TAGS: dict[str, dict[str, str]] = {
    "tokenizer": {"gpu": ""},
    "codes": {"gpu": ""},
    "labels": {"vlm": ""},
}
SIGNIFICANT_DIGITS = 4
PREVIEW_MAX_BYTES = 60_000  # an inline image's data URI stays below this


def _code_parts(cfg: PipelineConfig) -> dict[str, list[str]]:
    """Per stage: what its output depends on (config fingerprints, written table versions)."""
    tok = cfg.tokenizer_config().fingerprint()
    return {
        # the limits decide which files are admitted: the whole video section
        "ingest": [FrozenConfig.fingerprint(cfg.video), cfg.windows.fingerprint(),
                   f"videos:v{schemas.VIDEOS_VERSION}",
                   f"quarantine:v{schemas.QUARANTINE_VERSION}"],
        "chunks": [cfg.video.fingerprint(), cfg.windows.fingerprint(),
                   f"chunks:v{schemas.CHUNKS_VERSION}"],
        "tracks": [cfg.video.fingerprint(), cfg.windows.fingerprint(),
                   cfg.tracking.fingerprint(), f"windows:v{schemas.WINDOWS_VERSION}",
                   f"sampling:v{FRAME_SAMPLING_VERSION}"],
        "tokenizer": [tok],
        "codes": [tok, f"codes:v{schemas.CODES_VERSION}"],
        "segments": [cfg.segmentation.fingerprint(), f"write_clips:{cfg.write_clips}",
                     cfg.clips.fingerprint(),
                     f"energy:v{schemas.ENERGY_VERSION}",
                     f"segments:v{schemas.SEGMENTS_VERSION}"],
        "labels": [cfg.language.fingerprint(),
                   f"segment_labels:v{schemas.SEGMENT_LABELS_VERSION}"],
        "library": [cfg.discovery.fit_fingerprint()],
        "clusters": [cfg.discovery.fingerprint(),
                     f"segment_clusters:v{schemas.SEGMENT_CLUSTERS_VERSION}"],
        "publish": [cfg.publish.fingerprint(), f"dataset:v{DATASET_VERSION}"],
        "card": [cfg.publish.fingerprint(), cfg.discovery.fingerprint(),
                 f"clusters:v{schemas.CLUSTERS_VERSION}"],
        "export": [cfg.publish.fingerprint(), f"lerobot:v{EXPORT_SCHEMA_VERSION}"],
    }  # fmt: skip


def code_version(stage: str, cfg: PipelineConfig | None = None) -> str:
    """The stage's code version: its one fingerprint, or a 12-hex hash of its parts."""
    parts = _code_parts(cfg or PipelineConfig())[stage]
    if len(parts) == 1:
        return parts[0]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:12]


def standard(stage: str) -> dict[str, Any]:
    """``owners``, ``tags`` and ``code_version`` of an asset of ``stage`` (keyword arguments)."""
    out: dict[str, Any] = {
        "owners": [OWNERS[stage]],
        "tags": {"stage": stage, **POOL_TAGS.get(stage, {})},
        "code_version": code_version(stage),
    }
    # a pool's step tags (the gpu pool's Kubernetes GPU request: assets.executors)
    if op_tags := pool_op_tags(POOL_TAGS.get(stage, {})):
        out["op_tags"] = op_tags
    return out


def column_schema(
    schema: pa.Schema, descriptions: Mapping[str, str] | None = None
) -> dg.TableSchema:
    """``schema`` as Dagster shows it: one column per field, its Arrow type as a string, its
    nullability as a constraint, its description (field metadata ``description``, else
    ``descriptions[name]``) when there is one."""
    columns = []
    for f in schema:
        text = (f.metadata or {}).get(b"description", b"").decode() or (descriptions or {}).get(
            f.name
        )
        columns.append(
            dg.TableColumn(
                name=f.name,
                type=str(f.type),
                description=text or None,
                constraints=dg.TableColumnConstraints(nullable=f.nullable),
            )
        )
    return dg.TableSchema(columns=columns)


def table_metadata(
    schema: pa.Schema, descriptions: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Definition metadata of an asset that writes a table of ``schema``."""
    return {"dagster/column_schema": column_schema(schema, descriptions)}


def round_value(value: Any) -> Any:
    """Floats to ``SIGNIFICANT_DIGITS`` significant digits, through dicts, lists and JSON
    metadata values; everything else as it is (ints and bools are not floats here)."""
    if isinstance(value, float):
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}") if math.isfinite(value) else value
    if isinstance(value, dg.FloatMetadataValue) and value.value is not None:
        return dg.MetadataValue.float(round_value(value.value))
    if isinstance(value, dg.JsonMetadataValue):
        return dg.MetadataValue.json(round_value(value.data))
    if isinstance(value, dg.MetadataValue):  # paths, markdown, ...: records are tuples too
        return value
    if isinstance(value, Mapping):
        return {k: round_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [round_value(v) for v in value]
    return value


def rounded(meta: Mapping[str, Any]) -> dict[str, Any]:
    """A metadata dict with every float rounded (``round_value``)."""
    return {k: round_value(v) for k, v in meta.items()}


def clip_strip_markdown(clip: bytes, alt: str, *, frames: int = 4) -> str:
    """Markdown showing ``frames`` keyframes of ``clip`` side by side, inline as a JPEG data URI
    smaller than ``PREVIEW_MAX_BYTES`` (smaller strips and lower quality until it fits).
    Raises ``KeyframeError`` for a clip that does not decode."""
    from pipeline.discovery.keyframes import jpeg_bytes, keyframes, strip

    images = keyframes(clip, frames, max_side=320)
    for height, quality in ((96, 80), (72, 70), (48, 60), (32, 50)):
        jpeg = jpeg_bytes(strip(images, height=height), quality=quality)
        uri = f"data:image/jpeg;base64,{base64.b64encode(jpeg).decode('ascii')}"
        if len(uri) < PREVIEW_MAX_BYTES:
            return f"![{alt}]({uri})"
    return f"(keyframe strip of {alt} too large to show inline)"
