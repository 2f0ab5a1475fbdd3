"""The labels stage: one VLM answer per segment of a partition, as a ``segment_labels`` table.

For each segment of the partition, ``keyframes`` frames evenly spaced inside its clip are sent
(JPEG, longest side ``max_image_side``) to the configured OpenAI-compatible endpoint
(``pipeline.language.vlm``); cached answers are reused (``LabelCache`` in the store). Without an
endpoint (``language.base_url`` unset) nothing is decoded or sent: every row is ``disabled``
and instructions stay null. A segment whose clip is missing or cannot be decoded gets an
``error`` row (``no_clip`` / ``keyframes: ...``); the others go on.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from pipeline.context import StageSummary
from pipeline.errors import KeyframeError, StorageKeyError
from pipeline.io import schemas
from pipeline.io.storage import Storage
from pipeline.io.tables import read_partition, write_partition
from pipeline.language.cache import LabelCache
from pipeline.language.config import LanguageConfig, resolve_api_key
from pipeline.language.vlm import LabelRequest, LabelResult, label_rows, label_segments

log = logging.getLogger(__name__)


def segment_keyframes(store: Storage, clip_key: str, cfg: LanguageConfig) -> list[bytes]:
    """JPEG bytes of ``cfg.keyframes`` frames of one stored clip."""
    from pipeline.discovery.keyframes import jpeg_bytes, keyframes

    frames = keyframes(store.read_bytes(clip_key), cfg.keyframes, max_side=cfg.max_image_side)
    return [jpeg_bytes(f) for f in frames]


def label_partition(
    store: Storage,
    date: str,
    station: str,
    cfg: LanguageConfig,
    *,
    api_key: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> StageSummary:
    segments = read_partition(store, "segments", date, station)
    rows = segments.select(["segment_id", "clip_key"]).to_pylist() if segments is not None else []
    results: dict[str, LabelResult] = {}
    requests: list[LabelRequest] = []
    for r in rows:
        sid = r["segment_id"]
        if not cfg.enabled:
            requests.append(LabelRequest(sid))
            continue
        if not r["clip_key"]:
            results[sid] = LabelResult(sid, "error", error="no_clip: the segment has no clip",
                                       model=cfg.model)  # fmt: skip
            continue
        try:
            requests.append(LabelRequest(sid, segment_keyframes(store, r["clip_key"], cfg)))
        except (KeyframeError, StorageKeyError) as exc:
            log.warning("segment %s: no keyframes: %s", sid, exc)
            results[sid] = LabelResult(sid, "error", error=f"keyframes: {exc}"[:300],
                                       model=cfg.model)  # fmt: skip
    key = api_key if api_key is not None else resolve_api_key(cfg)
    for res in label_segments(requests, cfg, api_key=key, cache=LabelCache(store),
                              progress=progress):  # fmt: skip
        results[res.segment_id] = res
    ordered = [results[r["segment_id"]] for r in rows]
    out = label_rows(ordered)
    written = write_partition(
        store, "segment_labels", date, station, out, schema=schemas.SEGMENT_LABELS,
        schema_version=schemas.SEGMENT_LABELS_VERSION,
        metadata={"model": cfg.model if cfg.enabled else None, "enabled": cfg.enabled},
    )  # fmt: skip
    status = Counter(r.status for r in ordered)
    reasons = Counter((r.error or "").split(":")[0] for r in ordered if r.status == "error")
    return StageSummary(
        rows={"segment_labels": len(out)},
        keys={"segment_labels": written},
        extra={
            "enabled": cfg.enabled,
            "model": cfg.model if cfg.enabled else None,
            "status": dict(sorted(status.items())),
            "errors": dict(sorted(reasons.items())),
            "requests": sum(r.attempts for r in ordered),
            "labelled": sum(1 for r in ordered if r.instruction),
        },
        output=ordered,
    )
