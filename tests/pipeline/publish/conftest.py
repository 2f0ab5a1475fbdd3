"""Fixtures of the publish tests: a real segmented store with two partitions, built once.

``segmented_store`` (``tests/lapstest/publish_stores.py``, shared with the discovery tests):
``laps segment`` on rendered ``test``-preset videos of two partitions with an untrained tiny
tokenizer. Tests never publish into it: ``fresh_store`` copies it;
``published`` is a copy published once with ``parts.cfg`` (``maxcount=2``: several shards per
partition) for read-only tests. Shared values come as fixtures (``parts``), not imports: test
modules cannot import this conftest under every pytest import mode.
"""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lapstest.publish_stores import Parts

from pipeline.io import keys as layout
from pipeline.io.storage import LocalStorage, Storage
from pipeline.io.tables import read_partition
from pipeline.publish.index import read_shard_index
from pipeline.publish.snippets import lerobot_snippet
from pipeline.publish.stage import publish_partition

FENCE = re.compile(r"^### (?P<title>.+?)\n\n```python\n(?P<code>.*?)\n```", re.S | re.M)


@dataclass(frozen=True)
class Published:
    root: Path
    store: LocalStorage
    summaries: dict[tuple[str, str], Any]


@dataclass(frozen=True)
class CardRunner:
    """Runs the fenced python blocks of a store's card as written, and checks what they read
    against the store's segments table (used for local and S3 stores)."""

    parts: Parts

    @staticmethod
    def snippets(card: str) -> dict[str, str]:
        return {m["title"]: m["code"] for m in FENCE.finditer(card)}

    def run(self, store: Storage) -> dict[str, dict]:
        """Exec every snippet; returns each one's namespace by its heading."""
        card = store.read_bytes(layout.CARD_KEY).decode()
        blocks = self.snippets(card)
        assert len(blocks) == 5 and card.count("```python") == 5
        root = store.uri(layout.PUBLISH_ROOT)
        # the LeRobot block needs lerobot: test_lerobot.py runs it in .venv-lerobot
        (lerobot,) = [title for title in blocks if title.startswith("LeRobot v3")]
        assert blocks.pop(lerobot) == lerobot_snippet(root).rstrip("\n")
        out = {}
        for title, code in blocks.items():
            assert f"ROOT = {root!r}" in code, title
            namespace: dict = {"__name__": "__card__"}
            exec(compile(code, f"<card: {title}>", "exec"), namespace)
            out[title] = namespace
        return out

    def segments(self, store: Storage) -> dict[str, dict]:
        return {
            r["segment_id"]: r for d, s in self.parts.all
            for r in read_partition(store, "segments", d, s).to_pylist()
        }  # fmt: skip

    def counts(self, store: Storage) -> dict[str, int]:
        return {s: read_partition(store, "segments", d, s).num_rows for d, s in self.parts.all}

    def check(self, store: Storage, ns: dict[str, dict]) -> None:
        """What each snippet read equals the store's segments; the DataLoader yields each
        segment exactly once, with all its frames and codes."""
        segments, counts = self.segments(store), self.counts(store)
        loader = ns["WebDataset + PyTorch DataLoader"]
        shards = [read_shard_index(store, *p).num_rows for p in self.parts.all]
        assert len(loader["urls"]) == sum(shards)
        examples = [loader["first"], *loader["loader"]]  # the snippet's first, then a full pass
        assert sorted(e["key"] for e in examples[1:]) == sorted(segments)
        for e in examples:
            seg = segments[e["key"]]
            assert e["frames"].shape[0] == seg["end_frame"] - seg["start_frame"]
            assert e["codes"].tolist() == seg["codes"] and e["meta"]["segment_id"] == e["key"]
        assert ns["pyarrow"]["segments"].num_rows == sum(counts.values())
        assert [(s, n) for s, n, _ in ns["DuckDB"]["per_station"]] == sorted(counts.items())
        steps = ns["Latent-action JSONL (LAPA style)"]["steps"]
        assert len(steps) == sum(len(r["codes"]) for r in segments.values())


def copy_store(src: Path, dst: Path) -> LocalStorage:
    shutil.copytree(src, dst)
    return LocalStorage(dst)


@pytest.fixture(scope="session")
def card_runner(parts: Parts) -> CardRunner:
    return CardRunner(parts)


@pytest.fixture
def fresh_store(segmented_store: Path, tmp_path: Path) -> LocalStorage:
    """A private copy of the segmented store, not yet published."""
    return copy_store(segmented_store, tmp_path / "store")


@pytest.fixture(scope="session")
def published(
    segmented_store: Path, tmp_path_factory: pytest.TempPathFactory, parts: Parts
) -> Published:
    """A copy of the segmented store with both partitions published (read-only for tests)."""
    root = tmp_path_factory.mktemp("publish-done") / "store"
    store = copy_store(segmented_store, root)
    summaries = {p: publish_partition(store, *p, parts.cfg) for p in parts.all}
    return Published(root, store, summaries)
