"""The progress display when its stream is not a terminal: timestamped plain lines, written as
they happen, a busy stage (frames) thinned to its tenths."""

from __future__ import annotations

import io
import re

from rich.console import Console

from pipeline.cli.console import progress_display

LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ([a-z]+) (\d+)/(\d+)")


def test_plain_lines_one_per_change_as_they_happen() -> None:
    buf = io.StringIO()
    with progress_display(Console(file=buf, width=80)) as step:
        step("tracking", 0, 3)
        step("tracking", 1, 3)
        assert buf.getvalue().count("\n") == 2  # written at once, not when the block ends
        step("tracking", 1, 3)  # no change: no line
        step("tracking", 3, 3)
        step("tokenizer", 0, 6)
    lines = buf.getvalue().splitlines()
    assert [LINE.fullmatch(x).groups() for x in lines] == [  # type: ignore[union-attr]
        ("tracking", "0", "3"), ("tracking", "1", "3"), ("tracking", "3", "3"),
        ("tokenizer", "0", "6"),
    ]  # fmt: skip


def test_a_stage_of_many_steps_prints_its_tenths() -> None:
    buf = io.StringIO()
    with progress_display(Console(file=buf, width=80)) as step:
        for n in range(1001):
            step("rendering", n, 1000)
    done = [int(LINE.fullmatch(x).group(2)) for x in buf.getvalue().splitlines()]  # type: ignore[union-attr]
    assert done == [0, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000]
