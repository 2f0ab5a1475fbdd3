"""BENCHMARKS.md quality rows: created when missing, appended under their header, earlier kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.evaluation.benchmarks import (
    QUALITY_COLUMNS,
    QUALITY_HEADER,
    SPEED_HEADER,
    append_bench_row,
    append_quality_rows,
)

MEANS = {
    "lae_hysteresis": {"boundary_f1@0.5": 0.5, "boundary_f1@1.0": 0.75, "n_pred": 4.0},
    "uniform_oracle_k": {"boundary_f1@0.5": 0.25, "n_true": 3.5},
}


def _rows(text: str, header: str) -> list[list[str]]:
    lines = text.split("\n")
    start = lines.index(header)
    out = []
    for line in lines[start + 1 :]:
        if line.startswith("## "):
            break
        if line.startswith("|"):
            out.append([c.strip() for c in line.strip().strip("|").split(" | ")])
    return out


def test_creates_section_with_header(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    added = append_quality_rows(
        path, MEANS, command="laps eval --gt g --pred p", dataset="4 synth", errors={"x": 1}
    )
    assert len(added) == 2
    text = path.read_text()
    assert text.startswith("# Benchmarks\n")
    rows = _rows(text, QUALITY_HEADER)
    assert rows[0][:4] == ["date", "commit", "dataset", "method"]
    assert rows[0][4 : 4 + len(QUALITY_COLUMNS)] == QUALITY_COLUMNS
    first, second = rows[2], rows[3]
    assert first[2:7] == ["4 synth", "lae_hysteresis", "0.500", "0.750", ""]
    assert first[4 + QUALITY_COLUMNS.index("n_pred")] == "4.0"
    assert first[-2] == "0" and first[-1] == "`laps eval --gt g --pred p`"
    assert second[3] == "uniform_oracle_k" and second[4] == "0.250"
    assert second[4 + QUALITY_COLUMNS.index("n_true")] == "3.5"


def test_appends_under_header_and_keeps_other_sections(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    append_quality_rows(path, {"old": {"boundary_f1@0.5": 0.1}}, command="c1", dataset="d1")
    path.write_text(path.read_text() + "\n## Notes\n\nfree text\n")
    figures: dict[str, object] = {}
    figures |= {c: 1 for c in ("end_to_end_realtime_factor", "ratio_to_decode", "decode_fps")}
    figures |= {c: 1 for c in ("tracking_fps", "tokenizer_windows_per_s", "peak_rss_mb")}
    figures |= {"peak_rss_long_mb": 1, "long_over_short_rss": 1.0}
    figures |= {"video_sec": 60, "long_video_sec": 360, "machine": "m"}
    append_bench_row(path, figures, command="laps bench")  # the speed writer still works
    append_quality_rows(path, MEANS, command="c2", dataset="d2", errors={"lae_hysteresis": 2})
    text = path.read_text()
    rows = _rows(text, QUALITY_HEADER)
    assert [r[3] for r in rows[2:]] == ["old", "lae_hysteresis", "uniform_oracle_k"]
    assert rows[3][-2] == "2"
    assert text.index(QUALITY_HEADER) < text.index("## Notes") < text.index(SPEED_HEADER)
    assert "free text" in text and len(_rows(text, SPEED_HEADER)) == 3
    assert text.count(QUALITY_HEADER) == 1


def test_section_without_table_gets_its_header_back(tmp_path: Path) -> None:
    path = tmp_path / "BENCHMARKS.md"
    path.write_text(f"# Benchmarks\n\n{QUALITY_HEADER}\n\nintro only\n\n## Later\n")
    append_quality_rows(path, MEANS, command="c", dataset="d")
    text = path.read_text()
    rows = _rows(text, QUALITY_HEADER)
    assert rows[0][0] == "date" and len(rows) == 4
    assert text.index("intro only") < text.index("| date") < text.index("## Later")


def test_no_methods_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no methods"):
        append_quality_rows(tmp_path / "B.md", {}, command="c", dataset="d")


def test_publish_rows_get_their_own_table(tmp_path: Path) -> None:
    from pipeline.evaluation.benchmarks import PUBLISH_COLUMNS, PUBLISH_HEADER, append_publish_row

    path = tmp_path / "BENCHMARKS.md"
    figures: dict[str, object] = {c: i for i, c in enumerate(PUBLISH_COLUMNS)}
    figures |= {"video_sec": 60, "machine": "m"}
    append_publish_row(path, figures, command="laps bench --stage publish")
    append_publish_row(path, figures | {"publish_clips_per_s": 99}, command="again")
    text = path.read_text()
    rows = _rows(text, PUBLISH_HEADER)
    assert rows[0][2 : 2 + len(PUBLISH_COLUMNS)] == PUBLISH_COLUMNS  # header cells
    assert [r[2] for r in rows[2:]] == ["0", "99"] and rows[-1][-1] == "`again`"
    assert text.count(PUBLISH_HEADER) == 1 and SPEED_HEADER not in text


def test_a_table_with_older_columns_is_kept_and_a_new_table_follows_it(tmp_path: Path) -> None:
    """Rows never sit under a header of other columns: when QUALITY_COLUMNS changed since
    the section's last table began, new rows start a new table below it."""
    path = tmp_path / "BENCHMARKS.md"
    old_head = "| date | commit | dataset | method | boundary_f1@1.0 | errors | command |"
    old_row = "| 2026-01-01 | abc | d0 | old | 0.900 | 0 | `c0` |"
    path.write_text(f"# Benchmarks\n\n{QUALITY_HEADER}\n\n{old_head}\n|---|---|---|---|---|---|"
                    f"---|\n{old_row}\n\n## Later\n")  # fmt: skip
    append_quality_rows(path, MEANS, command="c", dataset="d")
    append_quality_rows(path, {"again": {"boundary_f1@1.0": 0.5}}, command="c3", dataset="d3")
    lines = path.read_text().split("\n")
    assert lines.count(old_head) == 1 and old_row in lines
    heads = [i for i, ln in enumerate(lines) if ln.startswith("| date |")]
    assert len(heads) == 2 and lines[heads[1] - 1] == ""
    new_head = [c.strip() for c in lines[heads[1]].strip("|").split(" | ")]
    assert new_head[4 : 4 + len(QUALITY_COLUMNS)] == QUALITY_COLUMNS
    rows = [ln for ln in lines[heads[1] + 2 :] if ln.startswith("|")]
    assert [r.split(" | ")[3] for r in rows] == ["lae_hysteresis", "uniform_oracle_k", "again"]
    assert lines.index("## Later") > heads[1]
