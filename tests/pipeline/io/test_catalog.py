"""`laps query` is read-only: it can select from the catalog, never write files."""

import pytest
from click.testing import CliRunner

from pipeline.cli.main import main
from pipeline.errors import ConfigError
from pipeline.io.catalog import check_read_only


@pytest.mark.parametrize("sql", ["select 1", "with a as (select 2) select * from a",
                                 "explain select 1", "select 1; select 2"])  # fmt: skip
def test_reading_statements_pass(sql):
    check_read_only(sql)


@pytest.mark.parametrize(
    "sql",
    [
        "copy (select 1) to 'out.csv'",
        "select 1; copy (select 1) to 'out.csv'",
        "attach 'other.duckdb'",
        "create table t as select 1",
        "install httpfs",
    ],
)
def test_writing_statements_are_refused(sql):
    with pytest.raises(ConfigError, match="read-only"):
        check_read_only(sql)


def test_laps_query_refuses_copy_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("LAPS_DATA_ROOT", str(tmp_path))
    target = tmp_path / "leak.csv"
    result = CliRunner().invoke(main, ["query", f"copy (select 42) to '{target}'"])
    assert result.exit_code == 2 and "read-only" in result.output
    assert not target.exists()
