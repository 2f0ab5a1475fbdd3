"""`laps query` output formats on a real store (a Parquet table read through the real DuckDB
catalog): csv and json that parse, tsv by default when piped (CliRunner's stdout is not a
terminal), every cell whole, "0 rows", one-line errors, and a real `| head` pipe."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from pipeline.cli.main import main

LAPS = str(Path(sys.executable).parent / "laps")
NAMES = ["plain", "with, comma", 'quote " and\nnewline', "tab\there", None]


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "data"
    part = root / "tables" / "notes" / "date=2026-12-01" / "station=a"
    part.mkdir(parents=True)
    long = "x" * 300  # wider than any terminal: a table once cut it to "…"
    t = pa.table({
        "name": NAMES,
        "n": [1, 2, 3, None, 5],
        "x": [0.5, float("nan"), None, 1e-7, 2.0],
        "raw": [b"ok", b"\xff\xfe", None, b"a\tb", b""],
        "ts": [dt.datetime(2026, 12, 1, 18, 0, tzinfo=dt.UTC)] * 5,
        "tags": [["a", "b"], [], None, ["c"], ["d"]],
        "long": [long] * 5,
    })  # fmt: skip
    pq.write_table(t, part / "part-0.parquet")
    for var in ("LAPS_STORE_URI", "LAPS_CATALOG", "LAPS_LANDING_URI"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LAPS_DATA_ROOT", str(root))
    return root


def _query(*args: str):
    return CliRunner().invoke(main, ["query", *args])


def _duckdb_rows(root: Path, sql: str) -> list[tuple]:
    glob = str(root / "tables" / "notes" / "**" / "*.parquet")
    con = duckdb.connect()
    con.execute(
        f"CREATE VIEW notes AS SELECT * FROM read_parquet('{glob}', hive_partitioning = true)"
    )
    return con.execute(sql).fetchall()


def test_csv_parses_and_matches_duckdb_rows(store: Path) -> None:
    sql = "select name, n, x, raw, long from notes order by n nulls last"
    result = _query(sql, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.stdout)))
    assert rows[0] == ["name", "n", "x", "raw", "long"]
    want = _duckdb_rows(store, sql)
    assert len(rows) - 1 == len(want) == 5
    for got, row in zip(rows[1:], want, strict=True):
        name, n, x, raw, long = row
        assert got[0] == ("" if name is None else name)  # commas, quotes, newlines survive
        assert got[1] == ("" if n is None else str(n))
        assert got[2] == ("" if x is None else str(x))
        assert got[3] == ("" if raw is None else raw.decode("utf-8", "backslashreplace"))
        assert got[4] == long and "…" not in got[4]
    assert result.stderr == ""  # nothing but the data


def test_json_is_an_array_of_objects_with_null_for_nan(store: Path) -> None:
    result = _query("select * from notes order by n nulls last", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["name"] for r in data] == ["plain", "with, comma", NAMES[2], None, "tab\there"]
    by_n = {r["n"]: r for r in data}
    assert by_n[2]["x"] is None and by_n[1]["x"] == 0.5  # NaN -> null
    assert by_n[2]["raw"] == "\\xff\\xfe" and by_n[1]["raw"] == "ok"  # bytes: printable form
    assert by_n[1]["tags"] == ["a", "b"] and by_n[3]["tags"] is None
    assert by_n[1]["ts"] == "2026-12-01T18:00:00+00:00"
    assert set(by_n[1]) == {"name", "n", "x", "raw", "ts", "tags", "long", "date", "station"}


def test_default_when_piped_is_tsv_with_whole_cells(store: Path) -> None:
    result = _query("select name, n, long from notes order by n nulls last")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "name\tn\tlong"
    assert len(lines) == 6  # one line per row: newlines and tabs in cells are escaped
    assert lines[3].split("\t")[0] == 'quote " and\\nnewline'
    assert lines[5].split("\t")[:2] == ["tab\\there", ""]  # null: empty cell
    assert all(line.split("\t")[2] == "x" * 300 for line in lines[1:])
    assert "…" not in result.stdout and "┃" not in result.stdout


def test_an_explicit_table_when_piped_is_not_cut(store: Path) -> None:
    result = _query("select n, long from notes where n = 1", "--format", "table")
    assert result.exit_code == 0, result.output
    assert "x" * 300 in result.stdout and "…" not in result.stdout
    assert result.stdout.rstrip().endswith("1 row")


@pytest.mark.parametrize(
    ("fmt", "stdout"),
    [("tsv", "name\tn\n"), ("csv", "name,n\n"), ("json", "[]\n")],
)
def test_an_empty_result_prints_the_header_and_0_rows_on_stderr(store, fmt, stdout) -> None:
    result = _query("select name, n from notes where n > 100", "--format", fmt)
    assert result.exit_code == 0, result.output
    assert result.stdout == stdout
    assert result.stderr == "0 rows\n"


def test_an_empty_table_says_0_rows(store: Path) -> None:
    result = _query("select name, n from notes where n > 100", "--format", "table")
    assert result.exit_code == 0, result.output
    assert "name" in result.stdout and result.stdout.rstrip().endswith("0 rows")


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("selec * from notes", "error: cannot parse the query: Parser Error: syntax error"),
        ("select * from nope", "error: query failed: Catalog Error: Table with name nope"),
    ],
)
def test_bad_sql_is_one_line_and_exit_2(store: Path, sql: str, expected: str) -> None:
    result = _query(sql)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.startswith(expected) and result.stderr.count("\n") == 1
    if "nope" in sql:
        assert "tables in" in result.stderr and "notes" in result.stderr


def test_a_catalog_that_cannot_be_opened_is_one_line_and_exit_2(store: Path) -> None:
    result = _query("select 1", "--catalog", str(store))  # a folder, not a DuckDB file
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: catalog {store} cannot be opened")
    assert result.stderr.count("\n") == 1


def test_piped_into_head_prints_clean_rows_and_no_broken_pipe(store: Path) -> None:
    env = {**os.environ, "LAPS_DATA_ROOT": str(store)}
    proc = subprocess.run(
        ["bash", "-c", f"set -o pipefail; '{LAPS}' query 'select * from range(200000)' | head -3"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["range", "0", "1"]
    assert proc.stderr == ""  # no BrokenPipeError, no "Exception ignored"


def test_info_logs_stay_off_stderr_even_when_a_library_logger_is_set_to_info(store) -> None:
    """Dagster's python_logs (or an earlier test) can leave ``pipeline.*`` at INFO: the CLI's
    handler still prints only warnings and up without -v."""
    import logging

    logger = logging.getLogger("pipeline")
    before = logger.level
    logger.setLevel(logging.INFO)
    try:
        result = _query("select name from notes where n = 1", "--format", "csv")
    finally:
        logger.setLevel(before)
    assert result.exit_code == 0 and " INFO " not in result.stderr
