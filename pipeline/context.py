"""What every stage is handed and what it hands back (shared by the stage list, the CLI and the
Dagster assets). A leaf module: stages import it, it imports no stage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Progress = Callable[[str, int, int], None]  # (what, done, total)


def no_progress(_what: str, _done: int, _total: int) -> None:
    """The default progress callback: says nothing."""


@dataclass
class StageSummary:
    """What one stage run wrote: rows and storage key per table, and stage-specific facts."""

    rows: dict[str, int] = field(default_factory=dict)  # table -> rows written
    keys: dict[str, str] = field(default_factory=dict)  # table -> storage key
    extra: dict[str, Any] = field(default_factory=dict)
    # what the stage computed, in memory, for the caller's checks (rows, results); not metadata
    output: Any = None
