"""The base of every config: frozen, no unknown fields, a stable fingerprint.

It lives in ``models`` (the lowest layer) so that the tokenizer's config and the pipeline's
configs share one definition; ``pipeline.config`` re-exports it."""

from __future__ import annotations

import hashlib
import json

from pydantic import BaseModel, ConfigDict


class FrozenConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    def fingerprint(self) -> str:
        """Short stable hash of the config values (used in versions and ids)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:12]
