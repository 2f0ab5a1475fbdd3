"""LatentActionStep: every published line validates; malformed lines are refused."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from pipeline.io import keys as layout
from pipeline.publish.jsonl import LatentActionStep, read_steps

SEG = "0123456789abcdef0123456789abcdef"
GOOD = {
    "id": f"{SEG}-0002",
    "segment_id": SEG,
    "video_id": "f" * 64,
    "clip_key": f"clips/date=2026-01-01/station=s/{'f' * 16}/{SEG}.mp4",
    "shard": "clips-000003.tar",
    "step": 2,
    "frame": {"clip": 6, "clip_next": 9, "source": 106, "source_next": 109},
    "codes": [7],
    "instruction": None,
}


def _with(**changes) -> dict:
    line = json.loads(json.dumps(GOOD))
    for k, v in changes.items():
        if k.startswith("frame_"):
            line["frame"][k.removeprefix("frame_")] = v
        else:
            line[k] = v
    return line


def test_a_good_line_round_trips():
    step = LatentActionStep.model_validate(GOOD)
    assert LatentActionStep.model_validate_json(step.model_dump_json()) == step
    assert json.loads(step.model_dump_json()) == GOOD


@pytest.mark.parametrize(
    "changes",
    [
        {"id": f"{SEG}-0003"},  # id does not match the step
        {"id": f"{SEG}.0002"},
        {"segment_id": SEG.upper(), "id": f"{SEG.upper()}-0002"},
        {"shard": "clips-3.tar"},
        {"codes": []},
        {"codes": [-1]},
        {"frame_clip_next": 5},  # next frame before the step's frame
        {"frame_source_next": 110},  # clip and source offsets disagree
        {"frame_clip": -1},
        {"extra": 1},
    ],
)
def test_malformed_lines_are_refused(changes):
    with pytest.raises(ValidationError):
        LatentActionStep.model_validate(_with(**changes))


def test_every_published_line_validates(published, parts):
    for part in parts.all:
        data = published.store.read_bytes(layout.steps_key(*part))
        steps = read_steps(data)
        assert steps and len(steps) == data.count(b"\n")
        assert len({s.id for s in steps}) == len(steps)
        assert all(s.instruction is None and len(s.codes) == 1 for s in steps)
