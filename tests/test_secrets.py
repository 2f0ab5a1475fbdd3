"""Planted secrets never leave the environment: after a run with secret tokens in the usual
credential variables, no file written (outputs decoded: Parquet, npz, tar members; logs; the
Dagster instance's sqlite event log and compute logs), no stdout/stderr line, holds any of them.

The scanner is checked first: it must find a token deliberately hidden inside compressed
Parquet, npz and tar files (so a passing scan means something).
"""

from __future__ import annotations

import gzip
import io
import os
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

REPO = Path(__file__).resolve().parents[1]
CREDENTIAL_VARS = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "LAPS_VLM_API_KEY",
    "OPENAI_API_KEY",
    "HF_TOKEN",
    "DAGSTER_PG_PASSWORD",
)


def planted() -> dict[str, str]:
    """A fresh random token per credential variable (recognisable, never a real secret)."""
    return {name: f"planted{secrets.token_hex(12)}" for name in CREDENTIAL_VARS}


def _decoded(data: bytes, depth: int = 0) -> list[bytes]:
    """``data`` and what it holds once decoded (Parquet rows and metadata, zip/npz and tar
    members, gzip, sqlite rows), recursively; raw bytes are always included."""
    out = [data]
    if depth > 3:
        return out
    if data[:4] == b"PAR1":
        table = pq.read_table(io.BytesIO(data))
        out.append(repr(table.to_pylist()).encode("utf-8", "backslashreplace"))
        out.append(repr(table.schema.metadata).encode("utf-8", "backslashreplace"))
    elif data[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            for name in zf.namelist():
                member = zf.read(name)
                out += _decoded(member, depth + 1)
                if name.endswith(".npy"):  # numpy text arrays are UTF-32: decode them
                    arr = np.load(io.BytesIO(member), allow_pickle=False)
                    out.append(repr(arr.tolist()).encode("utf-8", "backslashreplace"))
    elif data[:2] == b"\x1f\x8b":
        out += _decoded(gzip.decompress(data), depth + 1)
    elif len(data) > 512 and data[257:262] == b"ustar":
        with tarfile.open(fileobj=io.BytesIO(data)) as tar:
            for member in tar.getmembers():
                fh = tar.extractfile(member)
                if fh is not None:
                    out += _decoded(fh.read(), depth + 1)
    return out


def _sqlite_rows(path: Path) -> bytes:
    """Every row of every table of a sqlite file (its WAL included: the file itself is opened)."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = []
        for (table,) in db.execute("select name from sqlite_master where type='table'"):
            rows += db.execute(f'select * from "{table}"').fetchall()  # noqa: S608
    finally:
        db.close()
    return repr(rows).encode("utf-8", "backslashreplace")


def find_secrets(roots: list[Path], texts: dict[str, str], tokens: dict[str, str]) -> list[str]:
    """``where: VARIABLE`` for every file under ``roots`` and every text holding a token."""
    hits = []
    encodings = ("utf-8", "utf-16-le", "utf-32-le")  # as text of any width is stored
    needles = {name: [token.encode(e) for e in encodings] for name, token in tokens.items()}
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
            data = path.read_bytes()
            blobs = _decoded(data)
            if data[:16] == b"SQLite format 3\x00":  # the Dagster instance's storage
                blobs.append(_sqlite_rows(path))
            for name, variants in needles.items():
                if any(v in blob for blob in blobs for v in variants):
                    hits.append(f"{path}: {name}")
    for where, text in texts.items():
        hits += [f"{where}: {name}" for name, token in tokens.items() if token in text]
    return hits


def test_the_scanner_finds_tokens_hidden_in_compressed_outputs(tmp_path):
    tokens = planted()
    token = tokens["AWS_SECRET_ACCESS_KEY"]
    # deflate codes literals too (zstd would keep a short string readable), no min/max
    # statistics in the footer: the tokens are only there once decoded
    pq.write_table(
        pa.table({"detail": [f"x {token} y"]}),
        tmp_path / "t.parquet",
        compression="gzip",
        write_statistics=False,
    )
    np.savez_compressed(tmp_path / "a.npz", meta=np.asarray(tokens["HF_TOKEN"]))
    buf = io.BytesIO()
    pq.write_table(
        pa.table({"k": [tokens["OPENAI_API_KEY"]]}), buf, compression="gzip", write_statistics=False
    )
    with tarfile.open(tmp_path / "s.tar", "w") as tar:
        info = tarfile.TarInfo("sample.parquet")
        info.size = len(buf.getvalue())
        tar.addfile(info, io.BytesIO(buf.getvalue()))
    db = sqlite3.connect(tmp_path / "runs.db")
    db.execute("create table event_logs (event text)")
    db.execute("insert into event_logs values (?)", (tokens["LAPS_VLM_API_KEY"],))
    db.commit()
    db.close()
    for name, path in (("AWS_SECRET_ACCESS_KEY", "t.parquet"), ("HF_TOKEN", "a.npz"),
                       ("OPENAI_API_KEY", "s.tar")):  # fmt: skip
        assert tokens[name].encode() not in (tmp_path / path).read_bytes()  # only when decoded
    hits = find_secrets([tmp_path], {"stderr": f"... {tokens['DAGSTER_PG_PASSWORD']}"}, tokens)
    assert sorted(h.rsplit(": ", 1)[1] for h in hits) == sorted(
        ["AWS_SECRET_ACCESS_KEY", "HF_TOKEN", "OPENAI_API_KEY", "LAPS_VLM_API_KEY",
         "DAGSTER_PG_PASSWORD"]
    )  # fmt: skip


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from pipeline.synth import render_video

    folder = tmp_path_factory.mktemp("secrets-in")
    render_video(folder / "a.mp4", seconds=6, seed=11, preset="test", shake=False)
    render_video(folder / "b.mp4", seconds=5, seed=12, preset="test", shake=True)
    (folder / "broken.mp4").write_bytes(b"\x00garbage" * 64)  # a warning with file details
    return folder


@pytest.mark.slow
def test_laps_segment_writes_no_planted_secret_anywhere(videos, tmp_path):
    """The whole CLI pipeline (tokenizer trained on the input, clips, shards, card) at -vv."""
    tokens = planted()
    out, tmpdir = tmp_path / "out", tmp_path / "tmp"
    tmpdir.mkdir()
    env = {**os.environ, **tokens, "TMPDIR": str(tmpdir), "AWS_ACCESS_KEY_ID": "AKPLANTED"}
    args = [sys.executable, "-m", "pipeline.cli.main", "-vv", "segment", "--input", str(videos),
            "--output", str(out), "--epochs", "1", "--station", "cam1",
            "--date", "2026-02-03"]  # fmt: skip
    done = subprocess.run(args, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert (out / "publish/README.md").is_file() and "broken.mp4" in done.stdout
    assert "DEBUG" in done.stderr  # the debug log was on: everything it says is scanned
    texts = {"stdout": done.stdout, "stderr": done.stderr}
    assert find_secrets([out, tmpdir], texts, tokens) == []


@pytest.mark.slow
def test_the_dagster_path_writes_no_planted_secret_anywhere(tmp_path, monkeypatch):
    """Ingest -> tracks -> tokenizer -> codes -> segments -> publish -> card as Dagster runs
    them, on a sqlite instance (event log, run storage, compute logs all scanned)."""
    import dagster as dg

    from assets import ingest, motion, publish, segments, tokenizer
    from assets.partitions import partition_key, register
    from assets.resources import LapsConfig, LapsStorage
    from pipeline.synth import render_video

    tokens = planted()
    for name, token in tokens.items():
        monkeypatch.setenv(name, token)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    day = tmp_path / "data" / "landing" / "st1" / "2026-04-02"
    for i in range(2):
        render_video(day / f"v{i}.mp4", seconds=5, seed=40 + i, preset="test")
    (day / "corrupt.mp4").write_bytes(b"\x00garbage" * 64)
    tiny = {"d_model": 16, "heads": 2, "enc_layers": 1, "dec_layers": 1, "max_epochs": 1}
    res = {
        "storage": LapsStorage(data_root=str(tmp_path / "data")),
        "laps_config": LapsConfig(tokenizer=tiny),
    }
    pk = str(partition_key("2026-04-02", "st1"))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        register(instance, [("2026-04-02", "st1")])
        for selection, key in (
            ([ingest.videos, ingest.chunks, motion.tracks], pk),
            ([tokenizer.motion_tokenizer], None),
            ([tokenizer.latent_codes, segments.segmentation, publish.training_data], pk),
            ([publish.dataset_card], None),
        ):
            result = dg.materialize(selection, partition_key=key, instance=instance, resources=res)
            assert result.success
    assert (tmp_path / "data" / "publish" / "README.md").is_file()
    dbs = [p for p in home.rglob("*") if p.is_file() and p.read_bytes()[:6] == b"SQLite"]
    logged = b"".join(_sqlite_rows(p) for p in dbs)
    assert b"corrupt.mp4" in logged  # the event log (a core warning included) is scanned
    assert find_secrets([tmp_path], {}, tokens) == []


@pytest.mark.s3
def test_s3_credentials_never_reach_the_store_the_event_log_or_errors(
    s3_server, tmp_path, monkeypatch
):
    """A run against a real S3 server with its real secret key: the key is used (the run works)
    and appears in no object, no table row, no event log; an endpoint URL carrying a password
    is refused with the password redacted."""
    import dagster as dg
    from videogen import make_video

    from assets import ingest, motion
    from assets.partitions import partition_key, register
    from assets.resources import LapsConfig, LapsStorage
    from pipeline.errors import LapsError
    from pipeline.io.storage import S3Settings, open_storage

    for k, v in s3_server.env().items():
        monkeypatch.setenv(k, v)
    tokens = {"AWS_SECRET_ACCESS_KEY": s3_server.secret_access_key, **planted()}
    for name, token in tokens.items():
        if name != "AWS_SECRET_ACCESS_KEY":
            monkeypatch.setenv(name, token)
    base = f"s3://{s3_server.bucket}/secrets-{secrets.token_hex(4)}"
    landing = open_storage(f"{base}/landing")
    make_video(tmp_path / "a.mp4", frames=75)
    landing.put_file("st1/2026-03-01/a.mp4", tmp_path / "a.mp4")
    landing.write_bytes("st1/2026-03-01/bad.mp4", b"\x00junk" * 100)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    res = {
        "storage": LapsStorage(
            data_root=str(tmp_path / "data"),
            landing_uri=f"{base}/landing",
            store_uri=f"{base}/store",
        ),
        "laps_config": LapsConfig(),
    }
    with dg.DagsterInstance.from_config(str(home)) as instance:
        register(instance, [("2026-03-01", "st1")])
        result = dg.materialize(
            [ingest.videos, ingest.chunks, motion.tracks],
            partition_key=str(partition_key("2026-03-01", "st1")),
            instance=instance,
            resources=res,
        )
        assert result.success
    # every object the run wrote, downloaded and decoded
    dump = tmp_path / "dump"
    store = open_storage(f"{base}/store")
    for info in store.list():
        (dump / info.key).parent.mkdir(parents=True, exist_ok=True)
        (dump / info.key).write_bytes(store.read_bytes(info.key))
    assert any(dump.rglob("*.parquet")) and any(dump.rglob("*.npz"))
    # a password inside the endpoint URL: refused, and the message does not carry it
    url = f"http://alice:{tokens['HF_TOKEN']}@127.0.0.1:9/"
    with pytest.raises((LapsError, ValueError)) as err:
        S3Settings.from_env({"LAPS_S3_ENDPOINT_URL": url})
    assert find_secrets([tmp_path], {"error": f"{err.value!s} {err.value!r}"}, tokens) == []
