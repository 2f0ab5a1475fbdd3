"""LAPA-style latent-action JSONL: one line per 0.1 s (target-fps) step of every published segment.

``publish/latent_actions/date=D/station=S/steps.jsonl``, lines in sample order then step order::

    {"id": "<segment_id>-0003", "segment_id": ..., "video_id": ..., "clip_key": ...,
     "shard": "clips-000000.tar", "step": 3,
     "frame": {"clip": 9, "clip_next": 12, "source": 120, "source_next": 123},
     "codes": [417], "instruction": null}

- ``frame.source``: the step's source frame (``source_index(s)`` of target step ``s``);
  ``frame.clip`` = ``source - start_frame``, the frame's index in the clip (and in the
  sample's ``mp4``; its time in the clip is ``clip / fps``);
- ``frame.source_next``: the frame the step's motion ends on, ``source_index(s + 1)``, clipped
  to the clip's last frame ``end_frame - 1``; ``clip_next`` likewise. For every step but a
  segment's last it is the next step's frame; for the last it is the clip's last frame when the
  next step's frame falls outside the clip;
- ``codes``: the step's latent action as a list of ints (one FSQ index per step here; other
  tokenizers may emit more per step); ``instruction``: null until labelling exists.

Every line is validated by ``LatentActionStep`` when written (and by ``read_steps``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field, model_validator

from pipeline.io import keys as layout
from pipeline.io.storage import Storage
from pipeline.publish.records import SegmentRecord

log = logging.getLogger(__name__)

SEGMENT_ID_PATTERN = r"^[0-9a-f]{32}$"


class StepFrame(BaseModel):
    """Frame references of one step: in the clip and in the source video."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    clip: int = Field(ge=0, description="index of the step's frame in the clip")
    clip_next: int = Field(ge=0, description="index in the clip of the frame the step moves to")
    source: int = Field(ge=0, description="the step's frame in the source video")
    source_next: int = Field(ge=0, description="the frame it moves to, in the source video")

    @model_validator(mode="after")
    def _consistent(self) -> StepFrame:
        if self.clip_next < self.clip or self.source_next < self.source:
            raise ValueError(f"next frame before the step's frame: {self}")
        if self.source - self.clip != self.source_next - self.clip_next:
            raise ValueError(f"clip and source frames disagree on the clip's start: {self}")
        return self


class LatentActionStep(BaseModel):
    """One line of ``steps.jsonl`` (module doc)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[0-9a-f]{32}-\d{4,}$", description="<segment_id>-<step:04d>")
    segment_id: str = Field(pattern=SEGMENT_ID_PATTERN)
    video_id: str = Field(min_length=1)
    clip_key: str = Field(min_length=1, description="the clip's key in the pipeline store")
    shard: str = Field(pattern=r"^clips-\d{6,}\.tar$", description="shard holding the sample")
    step: int = Field(ge=0, description="index of the step in the segment")
    frame: StepFrame
    codes: list[int] = Field(min_length=1, description="the step's latent action codes")
    instruction: str | None = None

    @model_validator(mode="after")
    def _id_matches(self) -> LatentActionStep:
        if self.id != step_id(self.segment_id, self.step):
            raise ValueError(f"id {self.id!r} is not <segment_id>-<step:04d>")
        if any(c < 0 for c in self.codes):
            raise ValueError(f"negative code in {self.codes}")
        return self


def step_id(segment_id: str, step: int) -> str:
    return f"{segment_id}-{step:04d}"


def record_steps(rec: SegmentRecord, shard: str) -> Iterator[LatentActionStep]:
    """The validated lines of one published segment."""
    start = int(rec.meta["start_frame"])
    s = rec.steps
    for i in range(s.codes.size):
        src, nxt = int(s.source_frames[i]), int(s.next_frames[i])
        yield LatentActionStep(
            id=step_id(rec.segment_id, i),
            segment_id=rec.segment_id,
            video_id=rec.meta["video_id"],
            clip_key=str(rec.clip_key),
            shard=shard,
            step=i,
            frame=StepFrame(clip=src - start, clip_next=nxt - start, source=src, source_next=nxt),
            codes=[int(s.codes[i])],
            instruction=rec.meta.get("instruction"),
        )


def steps_bytes(records: Sequence[SegmentRecord], shard_of: Mapping[str, str]) -> bytes:
    """The JSONL of the published records (those with a shard)."""
    lines = [
        step.model_dump_json()
        for rec in records
        if rec.segment_id in shard_of
        for step in record_steps(rec, shard_of[rec.segment_id])
    ]
    return "".join(line + "\n" for line in lines).encode()


def write_steps(
    store: Storage,
    date: str,
    station: str,
    records: Sequence[SegmentRecord],
    shard_of: Mapping[str, str],
) -> tuple[str, int]:
    """Atomically replace the partition's JSONL; returns (key, lines)."""
    data = steps_bytes(records, shard_of)
    key = layout.steps_key(date, station)
    store.write_bytes(key, data)
    lines = data.count(b"\n")
    log.info("wrote %s (%d steps)", store.uri(key), lines)
    return key, lines


def read_steps(data: bytes) -> list[LatentActionStep]:
    """Parse and validate every line of a ``steps.jsonl``."""
    return [LatentActionStep.model_validate_json(line) for line in data.splitlines() if line]
