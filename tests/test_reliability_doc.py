"""RELIABILITY.md names a test for every case: each named file and test function exists."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _references() -> list[tuple[str, str | None]]:
    refs = []
    for line in (ROOT / "RELIABILITY.md").read_text().splitlines():
        if not line.startswith("| ") or line.startswith(("| case", "|---")):
            continue
        cell = line.rstrip().rstrip("|").rsplit("|", 1)[-1].strip()
        path = None
        for part in cell.split(", "):
            part = part.strip()
            if part.startswith("::"):
                refs.append((path, part[2:].split("[")[0]))
                continue
            path, _, name = part.partition("::")
            refs.append((path, name.split("[")[0] or None))
    return refs


def test_every_case_names_a_test_that_exists():
    refs = _references()
    assert len(refs) > 80
    missing = []
    for path, name in refs:
        file = ROOT / "tests" / path
        if not file.is_file():
            missing.append(path)
        elif name and not re.search(rf"^(async )?def {re.escape(name)}\(", file.read_text(), re.M):
            missing.append(f"{path}::{name}")
    assert not missing, missing
