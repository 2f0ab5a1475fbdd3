"""The VLM answer cache: one small JSON per (model, prompt version, segment id) in a store.

Key: ``labels/cache/<model16>/<segment_id>.json`` (``pipeline.io.keys.label_cache_key``), where
``model16`` hashes the model name and the prompt version. Only validated answers are written;
an error is never cached, so the next run asks again. A file that cannot be read back as a
label (truncated, edited, another model's) counts as a miss and is logged.
"""

from __future__ import annotations

import json
import logging

from pydantic import ValidationError

from pipeline.errors import StorageKeyError
from pipeline.io.keys import label_cache_key
from pipeline.io.storage import Storage
from pipeline.language.answer import PrimitiveLabel

log = logging.getLogger(__name__)

CACHE_FORMAT = 1


class LabelCache:
    """Cached ``PrimitiveLabel``s in ``storage`` (a local folder or S3)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def get(self, model: str, prompt_version: str, segment_id: str) -> PrimitiveLabel | None:
        """The cached label, or None (a miss, or an entry that cannot be used)."""
        key = label_cache_key(model, prompt_version, segment_id)
        try:
            raw = self.storage.read_bytes(key)
        except StorageKeyError:
            return None
        try:
            doc = json.loads(raw)
            if (doc.get("model"), doc.get("prompt_version"), doc.get("segment_id")) != (
                model, prompt_version, segment_id,
            ):  # fmt: skip
                raise ValueError("written for another model, prompt or segment")
            return PrimitiveLabel(verb=doc["verb"], instruction=doc["instruction"])
        except (ValueError, KeyError, TypeError, AttributeError, ValidationError) as exc:
            log.warning("ignoring unreadable label cache entry %s: %s", key, str(exc)[:200])
            return None

    def put(self, model: str, prompt_version: str, segment_id: str, label: PrimitiveLabel) -> str:
        """Write one answer; returns its key."""
        key = label_cache_key(model, prompt_version, segment_id)
        doc = {
            "format": CACHE_FORMAT,
            "segment_id": segment_id,
            "model": model,
            "prompt_version": prompt_version,
            "verb": label.verb,
            "instruction": label.instruction,
        }
        self.storage.write_bytes(key, json.dumps(doc, ensure_ascii=False, sort_keys=True).encode())
        return key
