"""The terminal: one rich console and table helper for every command-line driver (the `laps`
commands and `make demo`). Only ``pipeline.cli`` imports rich or click (an import-linter
contract), so other layers print through here."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from rich.console import Console
from rich.table import Table

__all__ = ["Console", "make_console", "table"]


def make_console() -> Console:
    return Console()


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Table:
    """A rich table with the given columns (``rows`` / ``count`` right-aligned)."""
    t = Table(title=title)
    for c in columns:
        t.add_column(c, justify="right" if c in ("rows", "count") else "left")
    for r in rows:
        t.add_row(*(str(v) for v in r))
    return t
