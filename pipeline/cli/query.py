"""`laps query`: read-only SQL over the DuckDB catalog, as a table for people or as TSV, CSV or
JSON for programs.

The default format is ``table`` when stdout is a terminal and ``tsv`` otherwise, so
``laps query "select ..." | head`` prints whole rows, never cells cut to "…". Cells:

- ``table``: every character shown (long cells wrap), ``NULL`` for null, then "N rows".
- ``tsv``: a header line, then one line per row; tab, newline, carriage return and backslash
  in a cell are written ``\\t``, ``\\n``, ``\\r``, ``\\\\``; null is an empty cell.
- ``csv``: RFC 4180 (the ``csv`` module's quoting), header line first; null is an empty cell.
- ``json``: one JSON array of objects (one per row, keys = column names, one object a line);
  null, NaN and infinities are ``null``; dates and times ISO 8601.

In every format bytes are shown in their printable form (UTF-8, other bytes as ``\\xNN``),
lists and structs as JSON (in tsv/csv cells too). An empty result prints the header (``[]``
for JSON) and "0 rows" (on stderr for tsv, csv and json, so their output stays parseable).
``--max-rows`` limits the table (default 100); the other formats print every row unless it is
given. Bad SQL or a catalog that cannot be opened is one line on stderr and exit code 2.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
import sys
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO
from uuid import UUID

import click
from rich.console import Console
from rich.table import Table

from pipeline.cli.console import console, err_console
from pipeline.errors import ConfigError

FORMATS = ("table", "csv", "json", "tsv")
TABLE_MAX_ROWS = 100


def one_line(message: str) -> str:
    """DuckDB's error text on one line: its ``LINE 1: ...`` excerpt and caret line dropped."""
    kept = []
    for line in str(message).splitlines():
        s = line.strip()
        if not s or s.startswith("LINE ") or set(s) <= {"^"}:
            continue
        kept.append(s)
    return " ".join(kept)


def _json_value(v: Any) -> Any:
    if v is None or isinstance(v, bool | int | str):
        return v
    if isinstance(v, float):
        return v if math.isfinite(v) else None
    if isinstance(v, Decimal):
        return float(v) if v.is_finite() else None
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).decode("utf-8", "backslashreplace")
    if isinstance(v, dt.datetime | dt.date | dt.time):
        return v.isoformat()
    if isinstance(v, dt.timedelta):
        return v.total_seconds()
    if isinstance(v, UUID):
        return str(v)
    if isinstance(v, dict):
        return {str(k): _json_value(x) for k, x in v.items()}
    if isinstance(v, list | tuple | set):
        return [_json_value(x) for x in v]
    return str(v)


def cell_text(v: Any) -> str:
    """One cell as text for tsv, csv and the table (null: empty)."""
    if v is None:
        return ""
    if isinstance(v, bytes | bytearray | memoryview):
        return bytes(v).decode("utf-8", "backslashreplace")
    if isinstance(v, dict | list | tuple):
        return json.dumps(_json_value(v), ensure_ascii=False)
    return str(v)


_TSV_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def write_tsv(out: TextIO, cols: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    out.write("\t".join(c.translate(_TSV_ESCAPES) for c in cols) + "\n")
    for row in rows:
        out.write("\t".join(cell_text(v).translate(_TSV_ESCAPES) for v in row) + "\n")


def write_csv(out: TextIO, cols: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    w = csv.writer(out, lineterminator="\n")
    w.writerow(cols)
    for row in rows:
        w.writerow([cell_text(v) for v in row])


def write_json(out: TextIO, cols: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    if not rows:
        out.write("[]\n")
        return
    out.write("[\n")
    for i, row in enumerate(rows):
        obj = {c: _json_value(v) for c, v in zip(cols, row, strict=True)}
        text = json.dumps(obj, ensure_ascii=False, allow_nan=False)
        out.write(text + (",\n" if i < len(rows) - 1 else "\n"))
    out.write("]\n")


def _count(n: int) -> str:
    return f"{n} row" if n == 1 else f"{n} rows"


def print_table(cols: Sequence[str], rows: Sequence[Sequence[Any]], total: int) -> None:
    """A rich table that never cuts a cell (long cells wrap on a terminal; elsewhere the table
    is as wide as its content), then the row count."""
    out = console if console.is_terminal else Console(width=1_000_000, soft_wrap=True)
    t = Table(*cols) if cols else Table("result")
    for c in t.columns:
        c.overflow = "fold"
    for row in rows:
        t.add_row(*("NULL" if v is None else cell_text(v) for v in row))
    out.print(t)
    more = f" (showing {len(rows)}; use --max-rows)" if total > len(rows) else ""
    out.print(_count(total) + more, markup=False, highlight=False)


def run_query(db_path: str, store, store_uri: str, sql: str) -> tuple[list[str], list[tuple]]:
    """(column names, rows); ``ConfigError`` for SQL that cannot run or a catalog that cannot
    be opened, ``StorageError`` for a store whose tables cannot be read."""
    import duckdb

    from pipeline.io import catalog

    try:
        catalog.check_read_only(sql)
    except ConfigError as exc:  # DuckDB's parser error: several lines
        raise ConfigError(one_line(str(exc))) from exc
    path = Path(db_path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"catalog {db_path}: cannot create its folder: {exc}") from exc
    try:
        con = catalog.connect(path, store)
    except duckdb.Error as exc:
        raise ConfigError(f"catalog {db_path} cannot be opened: {one_line(str(exc))}") from exc
    except OSError as exc:  # pyarrow's S3 reads fail as OSError
        from pipeline.errors import StorageError
        from pipeline.io.storage import S3Settings

        cause = S3Settings.from_env().redact(str(exc))
        raise StorageError(f"reading the tables of {store_uri}: {cause}", store_uri) from exc
    try:
        con.execute("SET enable_progress_bar = false")  # DuckDB's own bar: noise on stderr
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description] if cur.description else []
        return cols, cur.fetchall()
    except duckdb.Error as exc:
        known = catalog.table_names(store)
        raise ConfigError(
            f"query failed: {one_line(str(exc))} (tables in {store_uri}: "
            f"{', '.join(known) or 'none yet'})"
        ) from exc
    finally:
        con.close()


def _stdout_fd() -> int | None:
    try:
        return sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):  # CliRunner's stream has none
        return None


@click.command()
@click.argument("sql")
@click.option(
    "--catalog", "catalog_path", default=None, help="DuckDB file (default: $LAPS_CATALOG)"
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="output format (default: table on a terminal, tsv when piped or redirected)",
)
@click.option(
    "--max-rows",
    default=None,
    type=click.IntRange(1),
    help=f"print at most this many rows (default: {TABLE_MAX_ROWS} for the table, every row "
    "for tsv, csv and json)",
)
def query(sql: str, catalog_path: str | None, fmt: str | None, max_rows: int | None) -> None:
    """Run read-only SQL against the DuckDB catalog of $LAPS_STORE_URI (one view per table:
    videos, chunks, windows, codes, segments, ...) and print the result."""
    from pipeline.cli.main import reachable_store
    from pipeline.io.settings import LapsSettings

    settings = LapsSettings.from_env(catalog_path=catalog_path)
    store = reachable_store(settings)
    cols, rows = run_query(settings.catalog_path, store, settings.store_uri, sql)
    fmt = fmt or ("table" if console.is_terminal else "tsv")
    limit = max_rows or (TABLE_MAX_ROWS if fmt == "table" else None)
    shown = rows[:limit] if limit else rows
    try:
        if fmt == "table":
            print_table(cols, shown, len(rows))
            return
        out = sys.stdout
        writer = {"tsv": write_tsv, "csv": write_csv, "json": write_json}[fmt]
        writer(out, cols or ["result"], shown)
        out.flush()
    except BrokenPipeError:  # `| head` stopped reading: not an error, and no traceback
        fd = _stdout_fd()
        if fd is not None:
            os.dup2(os.open(os.devnull, os.O_WRONLY), fd)
        sys.exit(0)
    if not rows:
        err_console.print("0 rows", markup=False, highlight=False)
    elif len(shown) < len(rows):
        err_console.print(
            f"{_count(len(rows))}, {len(shown)} shown (--max-rows)", markup=False, highlight=False
        )
