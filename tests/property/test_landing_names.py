"""Property of ingest on a real landing folder: whatever bytes the file names hold, every landed
video file is accounted for (a video row, a quarantine row with a reason, or known), its exact
name bytes are kept, and the rows write to the tables and read back."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st
from property.strategies import same_rows

from pipeline.config import VideoConfig, WindowConfig
from pipeline.ingest.landing import VIDEO_SUFFIXES, discover, ingest_files
from pipeline.io import schemas
from pipeline.io.storage import LocalStorage
from pipeline.io.tables import read_partition, write_partition

# one path component: any bytes but '/' and NUL, not hidden (those are left out on purpose)
name_bytes = st.binary(min_size=1, max_size=40).filter(
    lambda b: b"/" not in b and b"\0" not in b and not b.startswith(b".")
)
suffixes = st.sampled_from(VIDEO_SUFFIXES).flatmap(
    lambda s: st.sampled_from([s, s.upper(), s[:2].upper() + s[2:]])
)


@settings(max_examples=max(10, settings.default.max_examples // 2))
@given(
    st.lists(
        st.tuples(name_bytes, suffixes, st.binary(max_size=64)),
        min_size=1,
        max_size=5,
        unique_by=lambda t: (t[0] + t[1].encode()).lower(),
    )
)
@example([(b"take\xff", ".mp4", b"x"), (b"a\\b", ".MP4", b"y"), (b"x" * 200, ".mkv", b"z")])
@example([(b"same", ".mp4", b"one bytes"), (b"copy", ".mov", b"one bytes")])  # a duplicate
def test_every_landed_file_is_accounted_for(files):
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "landing"
        station = os.fsencode(root / "st1")
        os.makedirs(station)
        paths = set()
        for name, suffix, data in files:
            path = os.path.join(station, name + suffix.encode())
            with open(path, "wb") as fh:
                fh.write(data)
            paths.add(path)
        landing = LocalStorage(root)
        found = discover(landing)
        assert len(found) == len(paths)
        result = ingest_files(landing, found, known={}, video=VideoConfig(), windows=WindowConfig())
        rows = result.videos + result.quarantine
        assert len(rows) + len(result.skipped_known) == len(paths)
        assert {r["uri_bytes"] for r in rows} == paths  # exact bytes, nothing dropped
        for r in result.quarantine:
            assert r["reason"] and r["file_name"]
            r["uri"].encode("utf-8")  # printable form: the tables can hold it
        store = LocalStorage(Path(tmp) / "store")
        q = schemas.QUARANTINE
        write_partition(store, "quarantine", "2026-03-01", "st1", result.quarantine,
                        schema=q, schema_version=schemas.QUARANTINE_VERSION)  # fmt: skip
        back = read_partition(store, "quarantine", "2026-03-01", "st1")
        assert back is not None and same_rows(back.to_pylist(), result.quarantine)
