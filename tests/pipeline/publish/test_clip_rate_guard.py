"""Clips cut at a ``clips.fps`` below the source rate are refused by publish and the LeRobot
export: the published formats index clip frames at the source rate (docs/formats.md "Clips")."""

from __future__ import annotations

import json

import pytest

from pipeline.errors import ExportError, PublishError
from pipeline.io import schemas
from pipeline.io.tables import read_partition, write_partition
from pipeline.publish.lerobot import plan_episodes
from pipeline.publish.stage import publish_partition
from pipeline.segments.clips import publish_refusal


def _recorded_clip_fps(store, date, station, fps):
    """Rewrite the segments table as if its clips had been cut at ``clips.fps`` = ``fps``."""
    table = read_partition(store, "segments", date, station)
    meta = {k.decode(): v.decode() for k, v in table.schema.metadata.items()
            if k != b"schema_version"}  # fmt: skip
    clips = json.loads(meta["clips"])
    meta["clips"] = json.dumps({**clips, "fps": fps})
    write_partition(store, "segments", date, station, table.to_pylist(), schema=schemas.SEGMENTS,
                    schema_version=schemas.SEGMENTS_VERSION, metadata=meta)  # fmt: skip


def test_publish_and_export_refuse_clips_below_the_source_rate(fresh_store, parts):
    assert publish_refusal(read_partition(fresh_store, "segments", *parts.a).schema.metadata,
                           [30.0]) is None  # the default: the source's rate  # fmt: skip
    _recorded_clip_fps(fresh_store, *parts.a, 10.0)
    with pytest.raises(PublishError, match=r"clips.fps=10, below the source rate"):
        publish_partition(fresh_store, *parts.a, parts.cfg)
    with pytest.raises(ExportError, match=r"set clips.fps to null"):
        plan_episodes(fresh_store, [parts.a])


def test_a_clip_rate_at_or_above_the_sources_is_published(fresh_store, parts):
    fps = read_partition(fresh_store, "segments", *parts.a).column("fps").to_pylist()
    _recorded_clip_fps(fresh_store, *parts.a, max(fps))
    summary = publish_partition(fresh_store, *parts.a, parts.cfg)
    assert summary.rows  # published as with clips.fps null


def test_refusal_reads_only_a_recorded_lower_rate():
    def meta(clips):
        return {b"clips": json.dumps(clips).encode()}

    assert publish_refusal(None, [30.0]) is None
    assert publish_refusal({b"clips": b"null"}, [30.0]) is None  # no clips cut
    assert publish_refusal(meta({"fps": None}), [30.0]) is None
    assert publish_refusal(meta({"fps": 30.0}), [30.0, 25.0]) is None
    assert "clips.fps=10" in publish_refusal(meta({"fps": 10.0}), [25.0, 30.0])
