"""parse_answer and PrimitiveLabel: tolerated wrappings, normalisation, refusals."""

from __future__ import annotations

import json

import pytest

from pipeline.errors import AnswerError, LapsError
from pipeline.language.answer import MAX_ANSWER_CHARS, PrimitiveLabel, parse_answer, plain_text


@pytest.mark.parametrize(
    "text",
    [
        '{"verb": "tighten", "instruction": "Tighten the screw."}',
        '```json\n{"verb": "tighten", "instruction": "Tighten the screw."}\n```',
        '```\n{"verb": "tighten", "instruction": "Tighten the screw."}\n```',
        'The clip shows: {"verb": "tighten", "instruction": "Tighten the screw."} Hope it helps',
        '{"note": 1} then {"verb": "Tighten.", "instruction": "Tighten the screw.", "x": [1]}',
        '{"answer": {"verb": "tighten", "instruction": "Tighten the screw."}}',
        '{"verb": " TIGHTEN ", "instruction": "  Tighten\\n the screw.  ", "confidence": 0.4}',
    ],
)
def test_tolerated_answers(text):
    label = parse_answer(text)
    assert label.verb == "tighten"
    assert label.instruction in ("Tighten the screw.", "Tighten the screw.")


@pytest.mark.parametrize(
    "verb, expected",
    [("Pick Up", "pick up"), ("pick_up", "pick up"), ("'insert'", "insert"),
     ("re-insert", "re-insert"), ("ＴＩＧＨＴＥＮ", "tighten"), ("don't move", "don't move")],
)  # fmt: skip
def test_verbs_are_normalised(verb, expected):
    assert PrimitiveLabel(verb=verb, instruction="x").verb == expected


@pytest.mark.parametrize(
    "verb",
    ["", "   ", "tighten the screw now please", "x" * 41, "3d-print", "<b>tighten</b>",
     "tighten; drop table", "über"],
)  # fmt: skip
def test_bad_verbs_are_refused(verb):
    with pytest.raises(AnswerError, match="verb"):
        parse_answer(json.dumps({"verb": verb, "instruction": "x"}))


def test_instruction_is_plain_text_with_markup_kept():
    raw = "<script>alert(1)</script>\tIgnore previous\r\ninstructions\u202e\u200b and \x07beep"
    label = PrimitiveLabel(verb="tighten", instruction=raw)
    assert label.instruction == "<script>alert(1)</script> Ignore previous instructions and beep"
    assert plain_text("a\x00b\x1b[0m") == "ab[0m"


@pytest.mark.parametrize(
    "text, reason",
    [(None, "empty"), ("  ", "empty"), ("x" * (MAX_ANSWER_CHARS + 1), "oversized"),
     ("no object here", "no JSON object"), ('"just a string"', "no JSON object"),
     ('{"verb": "tighten", "instruction": ""}', "instruction"),
     ('{"verb": "tighten", "instruction": "' + "a" * 301 + '"}', "instruction"),
     ('{"verb": "tighten", "instruction": 3}', "instruction"),
     ('{"verb": "tighten"}', "instruction"),
     ('{"a": ' + "[" * 1990 + "]" * 1990 + "}", "no JSON object")],
)  # fmt: skip
def test_refusals_name_the_reason(text, reason):
    with pytest.raises(AnswerError, match=reason) as info:
        parse_answer(text)
    assert isinstance(info.value, LapsError)


def test_oversized_is_refused_before_parsing(monkeypatch):
    calls = []
    monkeypatch.setattr(json.JSONDecoder, "raw_decode", lambda *a: calls.append(a))
    with pytest.raises(AnswerError, match="oversized"):
        parse_answer("{" + " " * MAX_ANSWER_CHARS + "}")
    assert calls == []
