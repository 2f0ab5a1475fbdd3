"""The README's loading snippet runs as written against a published store."""

import os
import re
from pathlib import Path

README = Path(__file__).resolve().parents[3] / "README.md"


def test_readme_loading_snippet_runs_as_written(published, tmp_path, capsys):
    text = README.read_text()
    section = text[text.index("Loading the training data") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "data").symlink_to(published.root)  # the snippet reads ./data, like the demo
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    samples = sum(s.extra["samples"] for s in published.summaries.values())
    assert f"{samples} samples" in capsys.readouterr().out and samples > 0
