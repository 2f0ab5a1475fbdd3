"""Language labels for segments from any OpenAI-compatible VLM endpoint (docs/language.md).

``label_segments`` (vlm) asks the model for ``{"verb", "instruction"}`` per segment, with a
cache (cache), pacing (throttle) and validation (answer); ``name_clusters`` (naming) names each
primitive cluster by its members' majority verb.
"""

from pipeline.language.answer import PrimitiveLabel, parse_answer
from pipeline.language.cache import LabelCache
from pipeline.language.config import LanguageConfig, resolve_api_key
from pipeline.language.images import encode_jpeg
from pipeline.language.naming import name_clusters
from pipeline.language.vlm import (
    PROMPT_VERSION,
    LabelRequest,
    LabelResult,
    label_rows,
    label_segments,
)

__all__ = [
    "PROMPT_VERSION",
    "LabelCache",
    "LabelRequest",
    "LabelResult",
    "LanguageConfig",
    "PrimitiveLabel",
    "encode_jpeg",
    "label_rows",
    "label_segments",
    "name_clusters",
    "parse_answer",
    "resolve_api_key",
]
