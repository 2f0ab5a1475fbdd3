"""BENCHMARKS.md: rows appended by `laps bench` / `laps eval`, never edited by hand."""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

SPEED_HEADER = "## Speed: `laps bench`"
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
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    if SPEED_HEADER not in text:
        cols = ["date", "commit", *SPEED_COLUMNS, "video s", "machine", "command"]
        text = text.rstrip("\n") + (
            f"\n\n{SPEED_HEADER}\n\nOne CPU core per measurement (pinned child processes), bench "
            "preset video (640x480, 30 fps, camera shake), ingest to codes; speed figures are the "
            "best of the repeats, ratio_to_decode the median of interleaved pairs. Targets: "
            "end_to_end_realtime_factor >= 10, ratio_to_decode >= 0.5, long_over_short_rss <= 1.10."
            "\n\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols) + "\n"
        )
    row = [
        datetime.now(UTC).strftime("%Y-%m-%d %H:%M"),
        git_commit(),
        *(str(figures[c]) for c in SPEED_COLUMNS),
        f"{figures['video_sec']} / {figures['long_video_sec']}",
        figures["machine"],
        f"`{command}`",
    ]
    lines = text.split("\n")
    start = lines.index(SPEED_HEADER)
    end = start + 1
    while end < len(lines) and not lines[end].startswith("## "):
        end += 1
    while end > start and not lines[end - 1].startswith("|"):
        end -= 1
    lines.insert(end, "| " + " | ".join(row) + " |")
    path.write_text("\n".join(lines).rstrip("\n") + "\n")
