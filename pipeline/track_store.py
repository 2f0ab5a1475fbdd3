"""Save and load ``WindowTracks`` as ``.npz`` (atomic: temp file in the same folder + rename).

File layout: one array per ``WindowTracks`` field, ``frame_size`` as (2,) int64,
``format_version`` as a scalar, ``meta_json`` as a 0-d unicode array holding caller metadata
(e.g. the fingerprints of the window and tracking configs that produced the tracks).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.window_tracks import ARRAY_FIELDS, WindowTracks

FORMAT_VERSION = 1

log = logging.getLogger(__name__)


class TrackStoreError(Exception):
    """A tracks file that cannot be read as ``WindowTracks``."""


def save_tracks(
    tracks: WindowTracks,
    path: str | Path,
    *,
    compressed: bool = True,
    meta: Mapping[str, Any] | None = None,
) -> None:
    """Write ``tracks`` (and JSON-able ``meta``) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {name: getattr(tracks, name) for name in ARRAY_FIELDS}
    arrays["frame_size"] = np.asarray(tracks.frame_size, np.int64)
    arrays["format_version"] = np.asarray(FORMAT_VERSION, np.int64)
    arrays["meta_json"] = np.asarray(json.dumps(dict(meta or {}), sort_keys=True))
    writer = np.savez_compressed if compressed else np.savez
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            writer(fh, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.debug("saved %d windows to %s", len(tracks), path)


def _open(path: Path) -> np.lib.npyio.NpzFile:
    data = np.load(path, allow_pickle=False)
    version = int(data["format_version"]) if "format_version" in data.files else None
    if version != FORMAT_VERSION:
        data.close()
        raise TrackStoreError(f"{path}: format_version {version}, expected {FORMAT_VERSION}")
    return data


def load_tracks(path: str | Path) -> WindowTracks:
    """Read tracks written by ``save_tracks``; raises ``TrackStoreError`` on a foreign file."""
    path = Path(path)
    with _open(path) as data:
        missing = [name for name in ARRAY_FIELDS if name not in data.files]
        if missing:
            raise TrackStoreError(f"{path}: missing arrays {missing}")
        arrays = {name: data[name] for name in ARRAY_FIELDS}
        width, height = (int(v) for v in data["frame_size"])
    return WindowTracks(**arrays, frame_size=(width, height))


def load_track_meta(path: str | Path) -> dict[str, Any]:
    """The ``meta`` mapping saved with the tracks."""
    path = Path(path)
    with _open(path) as data:
        return json.loads(str(data["meta_json"]))
