"""BENCHMARKS.md: rows appended by `laps bench` / `laps eval`, never edited by hand."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SPEED_HEADER = "## Speed: `laps bench`"
PUBLISH_HEADER = "## Speed: `laps bench --stage publish`"
PUBLISH_COLUMNS = [
    "publish_clips_per_s",
    "publish_mb_per_s",
    "publish_seconds",
    "publish_samples",
    "publish_mb",
    "publish_peak_rss_mb",
]
SPEED_COLUMNS = [
    "end_to_end_realtime_factor",
    "ratio_to_decode",
    "decode_fps",
    "tracking_fps",
    "tokenizer_windows_per_s",
    "peak_rss_mb",
    "peak_rss_long_mb",
    "long_over_short_rss",
]


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        )
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return out.stdout.strip()


def append_bench_row(path: Path, figures: dict[str, Any], *, command: str) -> None:
    """Add one row under the speed table (creating the section if needed)."""
    intro = (
        "One CPU core per measurement (pinned child processes), bench "
        "preset video (640x480, 30 fps, camera shake), ingest to codes; speed figures are the "
        "best of the repeats, ratio_to_decode the median of interleaved pairs. Targets: "
        "end_to_end_realtime_factor >= 10, ratio_to_decode >= 0.5, long_over_short_rss <= 1.10."
    )
    cells = [str(figures[c]) for c in SPEED_COLUMNS]
    cells.append(f"{figures['video_sec']} / {figures['long_video_sec']}")
    _append_row(path, SPEED_HEADER, intro, [*SPEED_COLUMNS, "video s"], cells, figures, command)


def append_publish_row(path: Path, figures: dict[str, Any], *, command: str) -> None:
    """Add one row under the publish speed table (creating the section if needed)."""
    intro = (
        "One CPU core (a pinned child process), the publish stage rewriting one partition "
        "segmented from the bench video (640x480, 30 fps): WebDataset shards, shard index, "
        "Parquet dataset and JSONL; clips are copied as stored, never re-encoded. clips/s and "
        "MB/s are of the shard phase (clip reads, tar writes, sha256, store upload), the best "
        "of the repeats."
    )
    cells = [str(figures[c]) for c in PUBLISH_COLUMNS] + [str(figures["video_sec"])]
    _append_row(path, PUBLISH_HEADER, intro, [*PUBLISH_COLUMNS, "video s"], cells, figures, command)


E2E_HEADER = "## Speed: `laps bench --e2e` (whole pipeline, workers)"
E2E_STAGES = ("ingest", "chunks", "tracks", "tokenizer", "codes", "segments", "clips", "labels",
              "library", "clusters", "publish", "card")  # fmt: skip


def append_e2e_row(path: Path, figures: dict[str, Any], *, command: str) -> None:
    """Add one row under the end-to-end speed table (creating the section if needed)."""
    intro = (
        "The whole pipeline (every stage of `pipeline.stages`, the default config, clips on) on "
        "one bench preset video (640x480, 30 fps, shake), one CPU core (a pinned child process); "
        "the tokenizer is installed from a checkpoint, its training is reported apart "
        "(`tokenizer_train_windows_per_s` of `laps bench`). Per stage: wall seconds per video "
        "second (`clips` is inside `segments`). `workers_speedup`: tracks + segments of N "
        "different videos, workers=1 over workers=N (unpinned). Target: realtime factor >= 10, "
        "workers_speedup >= 1.8 at 2 workers."
    )
    per = figures["stage_s_per_video_s"]
    cols = ["pipeline_realtime_factor", *(f"{s} s/s" for s in E2E_STAGES), "peak_rss_mb",
            "clips", "clip settings", "workers_speedup"]  # fmt: skip
    cells = [str(figures["pipeline_realtime_factor"]), *(str(per.get(s, "")) for s in E2E_STAGES),
             str(figures["pipeline_peak_rss_mb"]), str(figures["clips_written"]),
             _cell(", ".join(f"{k}={v}" for k, v in figures["clip_settings"].items())
                   or "defaults"),
             (f"{figures['workers_speedup']} ({figures['workers']} workers)"
              if "workers_speedup" in figures else "")]  # fmt: skip
    cells.append(str(figures["video_sec"]))
    _append_row(path, E2E_HEADER, intro, [*cols, "video s"], cells, figures, command)


def _append_row(
    path: Path,
    header: str,
    intro: str,
    columns: list[str],
    cells: list[str],
    figures: dict[str, Any],
    command: str,
) -> None:
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if header not in text:
        cols = ["date", "commit", *columns, "machine", "command"]
        text = text.rstrip("\n") + (
            f"\n\n{header}\n\n{intro}"
            "\n\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
        )
    row = [
        datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        git_commit(),
        *cells,
        figures["machine"],
        f"`{command}`",
    ]
    lines = text.split("\n")
    start = lines.index(header)
    end = start + 1
    while end < len(lines) and not lines[end].startswith("## "):
        end += 1
    while end > start and not lines[end - 1].startswith("|"):
        end -= 1
    lines.insert(end, "| " + " | ".join(row) + " |")
    path.write_text("\n".join(lines).rstrip("\n") + "\n")


QUALITY_HEADER = "## Quality: `laps eval`"


def _last_table_header(lines: list[str], table_rows: list[int]) -> str | None:
    """The header line of the last markdown table among ``table_rows`` (line numbers of the
    section's ``|`` lines): the line above its last ``|---`` rule."""
    rules = [i for i in table_rows if lines[i].startswith("|---") and i - 1 in table_rows]
    return lines[rules[-1] - 1] if rules else None


QUALITY_COLUMNS = [
    "boundary_f1@0.5",
    "boundary_f1@1.0",
    "boundary_precision@1.0",
    "boundary_recall@1.0",
    "boundary_f1@2.0",
    "boundary_f1@5.0",
    "segment_f1@0.1",
    "segment_f1@0.25",
    "segment_f1@0.5",
    "n_pred",
    "n_true",
]
QUALITY_INTRO = (
    "Means over videos of `laps eval` (docs/evaluation.md protocol: one-to-one boundary "
    "matching of interior boundaries at +-tolerance seconds, segment F1 at IoU thresholds, "
    "segment counts per video). One line per method of a run: the prediction first, then the "
    "baselines on the same data; `uniform_oracle_k` and `kernel_cpd_oracle_k` are oracles (true "
    "number of segments). "
    "Missing predictions count as 0 (column `errors`)."
)


def _cell(text: str) -> str:
    """A markdown table cell: pipes escaped, newlines flattened."""
    return text.replace("|", "\\|").replace("\n", " ").strip()


def _fmt_metric(value: Any, key: str) -> str:
    if value is None:
        return ""
    return f"{float(value):.1f}" if key.startswith("n_") else f"{float(value):.3f}"


def append_quality_rows(
    path: Path,
    means: dict[str, dict[str, float]],
    *,
    command: str,
    dataset: str,
    errors: dict[str, int] | None = None,
) -> list[str]:
    """Append one line per method (``means``: method -> mean scores, in table order) under the
    quality section of ``path`` (created with its table header if needed); earlier rows stay.
    Metrics absent from a method's means are left blank. Returns the lines added."""
    if not means:
        raise ValueError("no methods to append")
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    cols = ["date", "commit", "dataset", "method", *QUALITY_COLUMNS, "errors", "command"]
    table_head = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    if QUALITY_HEADER not in text.split("\n"):
        text = text.rstrip("\n") + f"\n\n{QUALITY_HEADER}\n\n{QUALITY_INTRO}\n\n"
        text += "\n".join(table_head) + "\n"
    stamp, commit = datetime.now(UTC).strftime("%Y-%m-%d %H:%M"), git_commit()
    new = [
        "| "
        + " | ".join(
            [
                stamp,
                commit,
                _cell(dataset),
                _cell(method),
                *(_fmt_metric(scores.get(c), c) for c in QUALITY_COLUMNS),
                str((errors or {}).get(method, 0)),
                f"`{_cell(command)}`",
            ]
        )
        + " |"
        for method, scores in means.items()
    ]
    lines = text.split("\n")
    start = lines.index(QUALITY_HEADER)
    end = start + 1
    while end < len(lines) and not lines[end].startswith("## "):
        end += 1
    table = [i for i in range(start + 1, end) if lines[i].startswith("|")]
    header = _last_table_header(lines, table)
    if header == table_head[0]:
        at = table[-1] + 1
    elif table:  # the columns changed since that table began: a new table below it
        at = table[-1] + 1
        new = ["", *table_head, *new]
    else:  # the section lost its table: put the header back at the section's end
        at = end
        while at > start + 1 and not lines[at - 1].strip():
            at -= 1
        new = ["", *table_head, *new, ""]
    lines[at:at] = new
    path.write_text("\n".join(lines).rstrip("\n") + "\n")
    return new
