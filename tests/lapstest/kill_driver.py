"""Run ``laps`` with a deterministic SIGKILL point (tests/test_kills.py): ``python kill_driver.py
segment --input ...``. No production code knows about it; the hooks wrap functions here.

``LAPS_KILL_KEY`` (a regex) and ``LAPS_KILL_NTH`` (default 1): the process kills itself with
SIGKILL inside the n-th write of a store key matching the regex, after the temp file is
complete and before it is published (the worst moment for a half-written output).
``LAPS_KILL_TRAIN_STEP`` (n): SIGKILL at the n-th training step of the tokenizer.
"""

from __future__ import annotations

import os
import re
import signal
import sys
from contextlib import contextmanager


def _die() -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def _hook_writes(pattern: re.Pattern[str], nth: int) -> None:
    from pipeline.io.storage.local import LocalStorage

    original = LocalStorage.writer_path
    seen = 0

    @contextmanager
    def writer_path(self, key, suffix=""):  # noqa: ANN001, ANN202 (mirrors the original)
        nonlocal seen
        with original(self, key, suffix) as tmp:
            yield tmp
            if pattern.search(key):
                seen += 1
                if seen == nth and tmp.is_file():
                    _die()

    LocalStorage.writer_path = writer_path  # type: ignore[method-assign]


def _hook_training(nth: int) -> None:
    from models.lightning_module import TokenizerModule

    original = TokenizerModule.training_step
    seen = 0

    def training_step(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        nonlocal seen
        seen += 1
        if seen == nth:
            _die()
        return original(self, *args, **kwargs)

    TokenizerModule.training_step = training_step  # type: ignore[method-assign]


def run(argv: list[str]) -> None:
    if os.environ.get("LAPS_KILL_KEY"):
        _hook_writes(
            re.compile(os.environ["LAPS_KILL_KEY"]), int(os.environ.get("LAPS_KILL_NTH", 1))
        )
    if os.environ.get("LAPS_KILL_TRAIN_STEP"):
        _hook_training(int(os.environ["LAPS_KILL_TRAIN_STEP"]))
    from pipeline.cli.main import main

    main(args=argv, prog_name="laps")


if __name__ == "__main__":
    run(sys.argv[1:])
