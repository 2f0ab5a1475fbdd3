"""WebDataset shards of one partition, written with webdataset's ``TarWriter``.

One sample per segment, ``__key__`` = ``segment_id`` (32 hex, no dots), members (in the tar in
this order, which is ``TarWriter``'s sorted member order):

- ``codes.npy``: int16 (n,), one FSQ index per 0.1 s step;
- ``json``: the segment's metadata (``pipeline.publish.records.segment_meta``);
- ``latent.npy``: float16 (n, latent_dim), the per-step pre-quantization latent;
- ``mp4``: the clip's bytes exactly as stored (never re-encoded).

Deterministic bytes: samples come sorted by (video_id, start_frame); ``TarWriter`` is given
``mtime=0``, ``user=""``, ``group=""`` and ``mode=0o444`` (uid/gid stay tarfile's 0), USTAR
format, no compression; npy bytes come from ``numpy.lib.format`` (fixed header) and the JSON
is dumped with sorted keys. So the same inputs give byte-identical tars. No subclass needed:
``TarWriter`` takes ``mtime``, ``user`` and ``group`` as parameters.

Rotation (our own, on top of ``TarWriter``, because ``ShardWriter`` checks the size only after
a sample is written): a new shard starts before a sample that would make the current one hold
more than ``maxcount`` samples or more than ``maxsize`` bytes (tar headers and padding counted);
a single sample larger than ``maxsize`` gets a shard of its own. Each shard is written to a
local temp folder, closed, hashed, then uploaded with ``Storage.put_file`` (atomic) with its
Parquet sidecar, and the local file removed: local disk holds one shard at a time. A segment
that cannot be a sample (no clip) is recorded as a sidecar row with its status, in the shard
being written when it came (the first shard if none was open yet), and in the result.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import webdataset as wds

from pipeline.io import keys as layout
from pipeline.io.scratch import scratch_dir
from pipeline.io.storage import Storage

log = logging.getLogger(__name__)

MEMBERS = ("codes.npy", "json", "latent.npy", "mp4")
OK = "ok"
TAR_BLOCK = 512
TAR_RECORD = 20 * TAR_BLOCK  # tarfile pads the archive to a multiple of this

SIDECAR_VERSION = 1
SIDECAR = pa.schema(
    [
        pa.field("key", pa.string(), nullable=False),  # __key__ = segment_id
        pa.field("video_id", pa.string(), nullable=False),
        pa.field("start_frame", pa.int64(), nullable=False),
        pa.field("end_frame", pa.int64(), nullable=False),
        pa.field("status", pa.string(), nullable=False),  # "ok" or "skipped: <reason>"
        pa.field("mp4_bytes", pa.int64(), nullable=True),  # member sizes; null when skipped
        pa.field("json_bytes", pa.int64(), nullable=True),
        pa.field("codes_npy_bytes", pa.int64(), nullable=True),
        pa.field("latent_npy_bytes", pa.int64(), nullable=True),
    ]
)


@dataclass(frozen=True)
class Sample:
    """One sample to write, or (``members`` None) a segment skipped with ``status``."""

    key: str
    video_id: str
    start_frame: int
    end_frame: int
    members: Mapping[str, bytes] | None
    status: str = OK


@dataclass(frozen=True)
class ShardInfo:
    """One uploaded shard: file name, store key, samples, bytes and sha256 of the tar."""

    name: str
    key: str
    samples: int
    bytes: int
    sha256: str


@dataclass
class ShardsResult:
    """What ``write_shards`` wrote: shards in order, each sample's shard, the skipped ones."""

    shards: list[ShardInfo] = field(default_factory=list)
    shard_of: dict[str, str] = field(default_factory=dict)  # segment_id -> shard name
    skipped: list[Sample] = field(default_factory=list)
    sidecar_keys: list[str] = field(default_factory=list)

    @property
    def samples(self) -> int:
        return sum(s.samples for s in self.shards)

    @property
    def bytes(self) -> int:
        return sum(s.bytes for s in self.shards)


def npy_bytes(array: np.ndarray) -> bytes:
    """Deterministic ``.npy`` bytes (format 1.0 header, C order, no pickle)."""
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def json_bytes(meta: Mapping[str, Any]) -> bytes:
    return json.dumps(meta, sort_keys=True, separators=(",", ":"), allow_nan=False).encode()


def tar_size(members: Mapping[str, bytes]) -> int:
    """Bytes the members take in a USTAR tar: a header block each plus data padded to blocks."""
    return sum(TAR_BLOCK + -(-len(v) // TAR_BLOCK) * TAR_BLOCK for v in members.values())


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _sidecar_row(sample: Sample) -> dict[str, Any]:
    sizes = {m: len(sample.members[m]) if sample.members else None for m in MEMBERS}
    return {
        "key": sample.key,
        "video_id": sample.video_id,
        "start_frame": sample.start_frame,
        "end_frame": sample.end_frame,
        "status": sample.status,
        "mp4_bytes": sizes["mp4"],
        "json_bytes": sizes["json"],
        "codes_npy_bytes": sizes["codes.npy"],
        "latent_npy_bytes": sizes["latent.npy"],
    }


def parquet_bytes(table: pa.Table, version: int, meta: Mapping[str, str] | None = None) -> bytes:
    """zstd Parquet bytes of ``table`` with ``schema_version`` (and ``meta``) in its metadata."""
    md = {b"schema_version": str(version).encode()}
    md.update({k.encode(): v.encode() for k, v in (meta or {}).items()})
    buf = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(md), buf, compression="zstd")
    return buf.getvalue()


class _ShardRoller:
    """Writes samples into numbered local tars, rotating by count and size (module doc)."""

    def __init__(
        self, store: Storage, date: str, station: str, tmp: Path, maxcount: int, maxsize: int
    ) -> None:
        self.store, self.date, self.station, self.tmp = store, date, station, tmp
        self.maxcount, self.maxsize = maxcount, maxsize
        self.result = ShardsResult()
        self._file: BinaryIO | None = None
        self._writer: wds.TarWriter | None = None
        self._rows: list[dict[str, Any]] = []
        self._pending: list[dict[str, Any]] = []  # skipped before any shard was opened
        self._count = 0
        self._size = 0

    @property
    def _name(self) -> str:
        return layout.shard_name(len(self.result.shards))

    def add(self, sample: Sample) -> None:
        if sample.members is None:
            self.result.skipped.append(sample)
            rows = self._rows if self._writer is not None else self._pending
            rows.append(_sidecar_row(sample))
            return
        size = tar_size(sample.members)
        full = self._count >= self.maxcount or self._size + size > self.maxsize
        if self._writer is not None and self._count and full:
            self._close()
        if self._writer is None:
            self._open()
        assert self._writer is not None
        self._writer.write({"__key__": sample.key, **sample.members})
        self._rows.append(_sidecar_row(sample))
        self.result.shard_of[sample.key] = self._name
        self._count += 1
        self._size += size

    def _open(self) -> None:
        self._file = (self.tmp / self._name).open("wb")
        self._writer = wds.TarWriter(
            self._file, user="", group="", mode=0o444, mtime=0.0, encoder=False, compress=False
        )
        self._rows, self._pending = self._pending, []
        self._count = self._size = 0

    def _close(self) -> None:
        assert self._writer is not None and self._file is not None
        self._writer.close()
        self._file.close()
        self._writer = self._file = None
        name = self._name
        path = self.tmp / name
        info = ShardInfo(
            name=name,
            key=layout.shard_key(self.date, self.station, name),
            samples=self._count,
            bytes=path.stat().st_size,
            sha256=file_sha256(path),
        )
        self.store.put_file(info.key, path)
        path.unlink()
        side_key = layout.sidecar_key(self.date, self.station, name)
        table = pa.Table.from_pylist(self._rows, schema=SIDECAR)
        self.store.write_bytes(side_key, parquet_bytes(table, SIDECAR_VERSION, {"shard": name}))
        self.result.shards.append(info)
        self.result.sidecar_keys.append(side_key)
        self._rows = []
        log.info("shard %s: %d samples, %d bytes", info.key, info.samples, info.bytes)

    def finish(self) -> ShardsResult:
        if self._writer is not None:
            self._close()
        return self.result

    def abort(self) -> None:
        """Close the open local tar without uploading it (a sample failed); the temp folder
        that holds it is removed by ``write_shards``."""
        if self._writer is not None:
            self._writer.close()
        if self._file is not None:
            self._file.close()
        self._writer = self._file = None


def write_shards(
    store: Storage,
    date: str,
    station: str,
    samples: Iterable[Sample],
    *,
    maxcount: int,
    maxsize: int,
    tmp_dir: str | Path | None = None,
) -> ShardsResult:
    """Write ``samples`` (in the order given) into the partition's shards ``clips-%06d.tar``
    (module doc); returns the shards written, each sample's shard and the skipped segments."""
    if maxcount < 1 or maxsize < 1:
        raise ValueError(f"maxcount and maxsize must be >= 1, got {maxcount}, {maxsize}")
    with scratch_dir("laps-shards", dir=tmp_dir) as tmp:  # a killed run's is swept next time
        roller = _ShardRoller(store, date, station, Path(tmp), maxcount, maxsize)
        try:
            for sample in samples:
                roller.add(sample)
            return roller.finish()
        except BaseException:
            roller.abort()  # the open shard is never uploaded; the temp folder goes with it
            raise
