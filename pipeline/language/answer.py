"""The answer a VLM is asked for, ``{"verb": ..., "instruction": ...}``, and its validation.

A reply is bounded before it is parsed (``MAX_ANSWER_CHARS``), may wrap the object in ```json
fences or prose, and may carry more keys (ignored). The instruction is untrusted text: it is
kept verbatim apart from control and format characters, and never interpreted.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from pipeline.errors import AnswerError

MAX_ANSWER_CHARS = 4000
"""Answers longer than this are refused before any parsing (``invalid_answer: oversized``)."""
MAX_VERB_CHARS = 40
MAX_INSTRUCTION_CHARS = 300

_VERB_RE = re.compile(r"^[a-z]+(?:[ '-][a-z]+){0,3}$")  # 1..4 words
_STRIP_VERB = " \t.,;:!?\"'`()[]{}"


def plain_text(text: str) -> str:
    """Whitespace runs (newlines, tabs) -> one space; other control and format characters
    (NUL, escape, bidi overrides, zero-width) removed; trimmed."""
    text = re.sub(r"\s+", " ", text)
    text = "".join(c for c in text if unicodedata.category(c) not in ("Cc", "Cf"))
    return text.strip()


class PrimitiveLabel(BaseModel):
    """What the VLM says a segment shows. Keys other than these two are ignored.

    ``verb``: NFKC, lower-case, ``_`` as a space, single spaces, outer punctuation and quotes
    removed; then 1..4 words of ``a-z`` joined by a space, ``-`` or ``'``, at most 40 characters.
    ``instruction``: plain text (``plain_text``), 1..300 characters, otherwise verbatim.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    verb: str
    instruction: str

    @field_validator("verb", mode="before")
    @classmethod
    def _verb(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value  # pydantic reports the type
        verb = plain_text(unicodedata.normalize("NFKC", value)).lower().replace("_", " ")
        verb = re.sub(r" +", " ", verb).strip(_STRIP_VERB)
        if not verb or len(verb) > MAX_VERB_CHARS or not _VERB_RE.match(verb):
            raise ValueError(f"not a verb of 1..4 lower-case words <= {MAX_VERB_CHARS} chars")
        return verb

    @field_validator("instruction", mode="before")
    @classmethod
    def _instruction(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = plain_text(value)
        if not 1 <= len(text) <= MAX_INSTRUCTION_CHARS:
            raise ValueError(f"instruction must be 1..{MAX_INSTRUCTION_CHARS} chars, got "
                             f"{len(text)}")  # fmt: skip
        return text


_FENCE_RE = re.compile(r"```[a-zA-Z]*\s*(.*?)```", re.DOTALL)


def parse_answer(text: str | None) -> PrimitiveLabel:
    """The label in a model's reply: the first JSON object in it with a ``verb`` or
    ``instruction`` key (```json fences and leading or trailing prose tolerated).
    ``AnswerError`` (reason-first message) for an empty or oversized reply, no JSON object, or
    one that fails ``PrimitiveLabel``."""
    if text is None or not text.strip():
        raise AnswerError("empty answer")
    if len(text) > MAX_ANSWER_CHARS:
        raise AnswerError(f"oversized: {len(text)} chars > {MAX_ANSWER_CHARS}")
    fenced = _FENCE_RE.search(text)
    body = fenced.group(1) if fenced else text
    obj = _first_object(body) or (_first_object(text) if fenced else None)
    if obj is None:
        raise AnswerError("no JSON object in answer")
    try:
        return PrimitiveLabel.model_validate(obj)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "answer"
        raise AnswerError(f"{where}: {first.get('msg', 'invalid')}") from None


def _first_object(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (outer before nested) with a ``verb`` or
    ``instruction`` key, else the first JSON object, else None."""
    decoder = json.JSONDecoder()
    first = None
    start = text.find("{")
    while start != -1:
        try:
            obj, _ = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than json allows
            obj = None
        if isinstance(obj, dict):
            if "verb" in obj or "instruction" in obj:
                return obj
            first = first if first is not None else obj
        start = text.find("{", start + 1)  # nested objects too: {"answer": {"verb": ...}}
    return first
