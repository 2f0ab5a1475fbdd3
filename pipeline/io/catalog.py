"""DuckDB catalog: every Parquet table under ``<data>/tables`` exposed as a view.

Local data: views over hive-partitioned globs, so they always show the current files.
S3 data: DuckDB's S3 extension cannot be installed offline, so tables are read through pyarrow's
S3 filesystem and registered as DuckDB tables (a snapshot taken at refresh time).
"""

from __future__ import annotations

import logging
from pathlib import Path

import duckdb
import pyarrow.dataset as ds

from pipeline.errors import ConfigError
from pipeline.io.keys import TABLES_PREFIX
from pipeline.io.storage import LocalStorage, Storage

log = logging.getLogger(__name__)

CATALOG_FILE = "catalog.duckdb"


def table_names(storage: Storage) -> list[str]:
    """Tables that have at least one Parquet file."""
    names = set()
    for info in storage.list(f"{TABLES_PREFIX}/", suffixes=(".parquet",)):
        parts = info.key.split("/")
        if len(parts) > 2:
            names.add(parts[1])
    return sorted(names)


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_str(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def refresh(con: duckdb.DuckDBPyConnection, storage: Storage) -> list[str]:
    """(Re)create one view or table per stored table; returns their names."""
    names = table_names(storage)
    for name in names:
        if isinstance(storage, LocalStorage):
            glob = str(Path(storage.root) / TABLES_PREFIX / name / "**" / "*.parquet")
            con.execute(
                f"CREATE OR REPLACE VIEW {_quote_ident(name)} AS SELECT * FROM read_parquet("
                f"{_quote_str(glob)}, hive_partitioning = true, union_by_name = true)"
            )
        else:
            fs, base = storage.arrow_filesystem()
            dataset = ds.dataset(
                f"{base}/{TABLES_PREFIX}/{name}",
                filesystem=fs,
                format="parquet",
                partitioning="hive",
            )
            arrow = dataset.to_table()  # noqa: F841 - referenced by name in the SQL below
            con.execute(f"CREATE OR REPLACE TABLE {_quote_ident(name)} AS SELECT * FROM arrow")
    log.info("catalog refreshed: %s", ", ".join(names) or "(no tables yet)")
    return names


def connect(db_path: str | Path, storage: Storage) -> duckdb.DuckDBPyConnection:
    """Open the catalog file, refresh it from ``storage`` and return the connection."""
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect(str(db_path))
    refresh(con, storage)
    return con


READ_ONLY_STATEMENTS = frozenset({"SELECT", "EXPLAIN"})


def check_read_only(sql: str) -> None:
    """``ConfigError`` unless every statement of ``sql`` only reads (``laps query`` never
    writes files or changes the catalog: no COPY, ATTACH, INSTALL, CREATE, INSERT, ...)."""
    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as exc:
        raise ConfigError(f"cannot parse the query: {exc}") from exc
    kinds = [str(s.type).rsplit(".", 1)[-1] for s in statements]
    refused = [k for k in kinds if k not in READ_ONLY_STATEMENTS]
    if refused or not kinds:
        raise ConfigError(
            f"laps query runs read-only SQL ({', '.join(sorted(READ_ONLY_STATEMENTS))}); "
            f"got {', '.join(refused) or 'no statement'}"
        )


def query(db_path: str | Path, storage: Storage, sql: str) -> tuple[list[str], list[tuple]]:
    """Run read-only ``sql`` against a freshly refreshed catalog; (column names, rows)."""
    check_read_only(sql)
    con = connect(db_path, storage)
    try:
        cur = con.execute(sql)
        cols = [d[0] for d in cur.description] if cur.description else []
        return cols, cur.fetchall()
    finally:
        con.close()
