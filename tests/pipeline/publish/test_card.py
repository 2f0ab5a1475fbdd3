"""The dataset card: counts over every partition, PNGs, and snippets that run as written."""

from __future__ import annotations

import pyarrow.parquet as pq

from pipeline.io import keys as layout
from pipeline.publish.stage import publish_partition

PNG = b"\x89PNG\r\n\x1a\n"


def test_card_counts_cover_every_partition(published, parts, card_runner):
    store = published.store
    card = store.read_bytes(layout.CARD_KEY).decode()
    total = sum(card_runner.counts(store).values())
    assert f"| segments | {total:,} |" in card
    assert "| stations | 2: `cam1`, `cam2` |" in card
    assert "| dates | 2026-02-03 to 2026-02-04 |" in card
    assert "`laps export lerobot` writes a LeRobot v3.0 dataset" in card
    assert "| `codes` | `list<item: int16>` | no |" in card
    for key in (layout.DURATIONS_PNG_KEY, layout.CODE_USAGE_PNG_KEY):
        assert store.read_bytes(key).startswith(PNG)
    index = pq.read_table(store.uri(layout.STORE_SHARD_INDEX_KEY)).to_pylist()
    assert {(r["date"], r["station"]) for r in index} == set(parts.all)
    for r in index:
        assert store.exists(f"{layout.PUBLISH_ROOT}/{r['path']}")


def test_card_snippets_run_as_written(published, card_runner):
    card_runner.check(published.store, card_runner.run(published.store))


def test_card_is_rewritten_from_all_partitions(fresh_store, parts):
    publish_partition(fresh_store, *parts.a, parts.cfg)
    first = fresh_store.read_bytes(layout.CARD_KEY).decode()
    assert "| stations | 1: `cam1` |" in first
    for part in parts.all:
        publish_partition(fresh_store, *part, parts.cfg)
    assert "| stations | 2: `cam1`, `cam2` |" in fresh_store.read_bytes(layout.CARD_KEY).decode()
