"""The terminal: the rich consoles, progress display, log handler and table helper of every
command-line driver (the `laps` commands and `make demo`). Only ``pipeline.cli`` imports rich
or click (an import-linter contract), so other layers print through here.

Results go to stdout (``console``); progress, log lines and warnings go to stderr
(``err_console``), so ``laps ... > out.txt`` keeps only the results. On a terminal, progress is
a set of rich bars and log lines print above them; when stderr is not a terminal (redirected,
piped, CI), progress is plain timestamped lines (``2026-12-01T18:00:00Z tracking 3/8``) that
appear as they happen.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

__all__ = [
    "Console",
    "StatusLine",
    "console",
    "err_console",
    "install_log_handler",
    "make_console",
    "progress_display",
    "stamp",
    "status",
    "table",
]

console = Console()  # results (stdout); file resolved at each write, so CliRunner sees it
err_console = Console(stderr=True)  # progress, logs and warnings (stderr)

StepFn = Callable[[str, int, int], None]  # (stage, done, total), as ``pipeline.context``


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


def stamp(when: float | None = None) -> str:
    """``2026-12-01T18:00:00Z``: the UTC time of a plain progress or log line."""
    t = datetime.now(UTC) if when is None else datetime.fromtimestamp(when, UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def _plain(out: Console, line: str) -> None:
    out.print(line, markup=False, highlight=False, soft_wrap=True, emoji=False)


class _PlainSteps:
    """Progress as timestamped lines: one per change of a stage's count; a stage with more
    than 100 steps (frames) prints its first step, each tenth and its last."""

    def __init__(self, out: Console) -> None:
        self.out = out
        self.last: dict[str, tuple[int, int]] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        before = self.last.get(stage)
        if before == (done, total):
            return
        busy = total > 100 and done < total and before is not None and before[1] == total
        if busy and done * 10 // total == before[0] * 10 // total:  # type: ignore[index]
            return
        self.last[stage] = (done, total)
        _plain(self.out, f"{stamp()} {stage} {done}/{total}")


@contextmanager
def progress_display(out: Console | None = None) -> Iterator[StepFn]:
    """A ``(stage, done, total)`` callback for the duration of the block: one rich bar per
    stage on a terminal, plain timestamped lines otherwise (module doc)."""
    out = out or err_console
    if not out.is_terminal:
        yield _PlainSteps(out)
        return
    with Progress(
        TextColumn("[bold]{task.description:<11}"), BarColumn(),
        TextColumn("{task.completed}/{task.total}"), TimeElapsedColumn(), console=out,
    ) as progress:  # fmt: skip
        tasks: dict[str, object] = {}

        def step(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = progress.add_task(stage, total=max(total, 1))
            progress.update(tasks[stage], completed=done, total=max(total, 1))  # type: ignore[arg-type]

        yield step


class StatusLine:
    """What ``status`` yields: ``update(text)`` (the spinner's text, or a timestamped line)."""

    def __init__(self, update: Callable[[str], None]) -> None:
        self.update = update


@contextmanager
def status(text: str, out: Console | None = None) -> Iterator[StatusLine]:
    """A spinner with ``text`` on a terminal; otherwise a plain timestamped line per update
    (``text`` itself is not printed: a command refused at once stays one line)."""
    out = out or err_console
    if not out.is_terminal:
        yield StatusLine(lambda t: _plain(out, f"{stamp()} {t}"))
        return
    with out.status(text) as s:
        yield StatusLine(lambda t: s.update(t))


class _ConsoleLogHandler(logging.Handler):
    """Log records as one line each on ``err_console`` (``2026-12-01T18:00:00Z WARNING
    pipeline.tracks.stage: ...``): on a terminal rich prints them above the progress bars
    instead of through them."""

    STYLES = {"WARNING": "yellow", "ERROR": "red", "CRITICAL": "bold red"}

    def emit(self, record: logging.LogRecord) -> None:
        try:
            head = f"{stamp(record.created)} {record.levelname} {record.name}"
            line = f"{head}: {self.format(record)}"
            err_console.print(
                line, markup=False, highlight=False, soft_wrap=True, emoji=False,
                style=self.STYLES.get(record.levelname) if err_console.is_terminal else None,
            )  # fmt: skip
        except Exception:  # noqa: BLE001 - logging must never raise
            self.handleError(record)


_handler: _ConsoleLogHandler | None = None


def install_log_handler(level: int) -> Callable[[], None]:
    """Route the root logger through ``err_console`` at ``level``; returns the undo (the
    command line calls it when the command ends, so a test process keeps no stale handler)."""
    global _handler
    root = logging.getLogger()
    if _handler is not None:
        root.removeHandler(_handler)
    handler = _handler = _ConsoleLogHandler()
    # the handler filters too: a library logger set to a lower level elsewhere (Dagster's
    # python_logs raise pipeline.* to INFO) would otherwise reach the terminal below ``level``
    handler.setLevel(level)
    root.addHandler(handler)
    before = root.level
    root.setLevel(level)

    def undo() -> None:
        global _handler
        root.removeHandler(handler)
        if _handler is handler:
            _handler = None
        root.setLevel(before)
        sys.stderr.flush()

    return undo
