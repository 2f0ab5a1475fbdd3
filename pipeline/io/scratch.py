"""Private scratch folders (training runs, shard assembly, plots) that never outlive their run.

A scratch folder is ``<temp dir>/<prefix>-h<host>p<pid>-<random>``: removed when its block
exits (normally or by an exception); a process killed with SIGKILL cannot clean up, so the next
:func:`scratch_dir` of the same prefix removes the folders whose owner (a process of this host)
no longer runs. Folders of live processes, of other hosts and of other users are never touched.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pipeline.io.storage.base import host_digest, pid_alive

log = logging.getLogger(__name__)

_PREFIX_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _owner_re(prefix: str) -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(prefix)}-h([0-9a-f]{{6}})p(\d+)-")


@contextmanager
def scratch_dir(prefix: str, *, dir: str | Path | None = None) -> Iterator[Path]:
    """A new private folder under ``dir`` (default: the system temp dir, ``$TMPDIR``), removed
    on exit; stale folders of the same prefix left by killed processes are removed first."""
    if not _PREFIX_RE.match(prefix):
        raise ValueError(f"scratch prefix must be a plain name, got {prefix!r}")
    base = Path(dir) if dir is not None else Path(tempfile.gettempdir())
    sweep_stale(prefix, dir=base)
    path = Path(tempfile.mkdtemp(prefix=f"{prefix}-h{host_digest()}p{os.getpid()}-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def sweep_stale(prefix: str, *, dir: str | Path | None = None) -> list[Path]:
    """Remove ``prefix`` scratch folders whose owner process (on this host) is dead; their paths."""
    base = Path(dir) if dir is not None else Path(tempfile.gettempdir())
    owner = _owner_re(prefix)
    host, uid = host_digest(), os.getuid()
    removed = []
    try:
        entries = list(os.scandir(base))
    except OSError as err:
        log.debug("cannot list %s for stale scratch folders: %s", base, err)
        return []
    for entry in entries:
        m = owner.match(entry.name)
        if m is None or m.group(1) != host or pid_alive(int(m.group(2))):
            continue
        try:  # a real folder of ours (never a link someone planted, never another user's)
            if not entry.is_dir(follow_symlinks=False) or entry.stat().st_uid != uid:
                continue
        except OSError:
            continue
        shutil.rmtree(entry.path, ignore_errors=True)
        removed.append(Path(entry.path))
    if removed:
        log.info("removed %d scratch folders of killed runs in %s", len(removed), base)
    return sorted(removed)
