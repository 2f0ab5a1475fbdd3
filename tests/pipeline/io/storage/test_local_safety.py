"""Keys never leave the store root: hostile keys, symbolic links inside a local store, temp
files of killed writers, scratch folders of killed runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.errors import StorageError, StorageKeyNameError
from pipeline.io.scratch import scratch_dir, sweep_stale
from pipeline.io.storage import LocalStorage, S3Settings, S3Storage
from pipeline.io.storage.base import host_digest, temp_name, temp_owner_dead

HOSTILE = [
    "/etc/passwd",
    "../outside",
    "a/../../outside",
    "a/./b",
    "a//b",
    "a\x00b",
    "",
    "dir/",
    ".tmp-h000000p1-x-y.mp4",
    "a/.clip.mp4.x1y2.tmp",
]


def dead_pid() -> int:
    """The id of a process that has exited (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


@pytest.fixture()
def rooted(tmp_path: Path) -> tuple[LocalStorage, Path]:
    """A store and, beside it, an outside folder holding a secret file."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("do not read")
    return LocalStorage(tmp_path / "store"), outside


@pytest.mark.parametrize("key", HOSTILE)
def test_hostile_keys_are_refused_naming_the_key(rooted, key: str) -> None:
    store, outside = rooted
    for call in (
        lambda: store.write_bytes(key, b"x"),
        lambda: store.read_bytes(key),
        lambda: store.exists(key),
        lambda: store.delete(key, missing_ok=True),
    ):
        with pytest.raises(StorageKeyNameError) as info:
            call()
        assert isinstance(info.value, (StorageError, ValueError))
        assert repr(key) in str(info.value)  # the key, quoted and escaped
    s3 = S3Storage("s3://bucket/prefix", settings=S3Settings())
    with pytest.raises(StorageKeyNameError):
        s3.uri(key)
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert not any(Path(store.root).rglob("*"))  # nothing was written anywhere


def test_a_key_that_is_not_utf8_is_named_printably() -> None:
    key = "caf\udce9/../x.mp4"  # a name with byte 0xE9, as os.listdir decodes it
    with pytest.raises(StorageKeyNameError) as info:
        S3Storage("s3://bucket/p", settings=S3Settings()).uri(key)
    assert "caf\\xe9" in str(info.value) and info.value.key == key
    str(info.value).encode("utf-8")  # printable: never a surrogate in a message


def test_a_backslash_is_an_ordinary_character_of_a_key(rooted) -> None:
    store, _ = rooted
    store.write_bytes("a\\b.txt", b"x")  # a POSIX file name may hold one
    assert [i.key for i in store.list()] == ["a\\b.txt"]
    assert (Path(store.root) / "a\\b.txt").read_bytes() == b"x"


def test_a_linked_folder_out_of_the_store_is_never_read_or_written(rooted) -> None:
    store, outside = rooted
    os.symlink(outside, Path(store.root) / "evil")
    store.write_bytes("real/ok.txt", b"ok")
    for call in (
        lambda: store.read_bytes("evil/secret.txt"),
        lambda: store.exists("evil/secret.txt"),
        lambda: store.write_bytes("evil/new.txt", b"x"),
        lambda: store.put_file("evil/new.txt", outside / "secret.txt"),
    ):
        with pytest.raises(StorageKeyNameError, match="outside the store root"):
            call()
    with pytest.raises(StorageKeyNameError), store.local_path("evil/secret.txt"):
        pass
    with pytest.raises(StorageKeyNameError), store.writer_path("evil/new.txt"):
        pass
    listed = store.list()
    assert [(i.key, i.escapes_root) for i in listed] == [("evil", True), ("real/ok.txt", False)]
    assert store.list("evil/") == []  # the link's contents are never listed
    assert store.sweep_temp("evil/") == []
    assert store.delete_prefix("") == 2  # the link itself goes, never what it points to
    assert not (Path(store.root) / "evil").is_symlink()
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "do not read"


def test_a_linked_file_out_of_the_store_is_listed_as_such_and_refused(rooted) -> None:
    store, outside = rooted
    Path(store.root, "t").mkdir()
    os.symlink(outside / "secret.txt", Path(store.root) / "t" / "link.txt")
    os.symlink(outside / "missing.txt", Path(store.root) / "t" / "dangling.txt")
    infos = {i.key: i for i in store.list()}
    assert infos["t/link.txt"].escapes_root and infos["t/dangling.txt"].escapes_root
    assert infos["t/link.txt"].size != len("do not read")  # the link's own size, not the target's
    assert store.info("t/link.txt") == infos["t/link.txt"]
    with pytest.raises(StorageKeyNameError, match="t/link.txt"):
        store.read_bytes("t/link.txt")
    # a write replaces the link itself: the outside file is never written through
    store.write_bytes("t/link.txt", b"new")
    assert not Path(store.root, "t", "link.txt").is_symlink()
    assert (outside / "secret.txt").read_text() == "do not read"
    store.delete("t/dangling.txt")
    assert not Path(store.root, "t", "dangling.txt").is_symlink()


def test_links_inside_the_store_are_read_and_loops_are_refused(rooted) -> None:
    store, _ = rooted
    store.write_bytes("a/real.txt", b"data")
    os.symlink("real.txt", Path(store.root) / "a" / "alias.txt")
    os.symlink("a", Path(store.root) / "b")  # a linked folder inside: not descended
    os.symlink("loop2", Path(store.root) / "a" / "loop1")
    os.symlink("loop1", Path(store.root) / "a" / "loop2")
    assert store.read_bytes("a/alias.txt") == b"data"
    assert store.read_bytes("b/real.txt") == b"data"
    keys = [i.key for i in store.list()]
    assert keys == ["a/alias.txt", "a/loop1", "a/loop2", "a/real.txt"]
    assert store.info("b") is None
    with pytest.raises(StorageKeyNameError, match="cannot be resolved"):
        store.read_bytes("a/loop1")


def test_temp_names_carry_their_writer_and_stay_short() -> None:
    name = temp_name("x" * 400 + ".mp4", ".npz")
    assert name.startswith(f".tmp-h{host_digest()}p{os.getpid()}-")
    assert name.endswith("x.mp4.npz") and len(os.fsencode(name)) < 200
    assert not temp_owner_dead(name)  # this process is alive
    stale = f".tmp-h{host_digest()}p{dead_pid()}-0123-x.mp4"
    assert temp_owner_dead(stale) and temp_owner_dead("." + stale + ".ab12.tmp")
    assert not temp_owner_dead(f".tmp-hffffffp{dead_pid()}-0123-x.mp4") or host_digest() == "ffffff"
    assert not temp_owner_dead(".tmp-deadbeef-4.parquet")  # not ours: never swept by pid


def test_a_write_removes_temp_files_that_killed_writers_left_in_its_folder(rooted) -> None:
    store, _ = rooted
    folder = Path(store.root, "tracks", "p")
    folder.mkdir(parents=True)
    pid, host = dead_pid(), host_digest()
    dead = [f".tmp-h{host}p{pid}-aa-c0.npz", f"..tmp-h{host}p{pid}-bb-c1.npz.x1y2.tmp"]
    alive = [f".tmp-h{host}p{os.getpid()}-cc-c2.npz", ".tmp-deadbeef-4.parquet"]
    other_host = "000000" if host != "000000" else "111111"
    alive.append(f".tmp-h{other_host}p{pid}-dd-c3.npz")
    for name in dead + alive:
        (folder / name).write_bytes(b"half")
    assert store.list() == []  # temp files are never listed
    store.write_bytes("tracks/p/c9.npz", b"whole")
    assert sorted(p.name for p in folder.iterdir()) == sorted([*alive, "c9.npz"])
    assert [i.key for i in store.list()] == ["tracks/p/c9.npz"]


def test_sweep_temp_also_removes_emptied_temp_folders(rooted) -> None:
    store, _ = rooted
    half = Path(store.root, "publish", ".tmp-lerobot-x1")
    half.mkdir(parents=True)
    (half / "data.parquet").write_bytes(b"half")
    assert store.sweep_temp("publish/") == ["publish/.tmp-lerobot-x1/data.parquet"]
    assert not half.exists()


def test_scratch_dirs_are_removed_on_exceptions_and_after_kills(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), scratch_dir("laps-test", dir=tmp_path) as path:
        (path / "f").write_bytes(b"x")
        raise RuntimeError("boom")
    assert not path.exists()
    host = host_digest()
    stale = tmp_path / f"laps-test-h{host}p{dead_pid()}-abc"
    live = tmp_path / f"laps-test-h{host}p{os.getpid()}-def"
    planted_link = tmp_path / f"laps-test-h{host}p{dead_pid()}-lnk"
    keep = tmp_path / "keep"
    for d in (stale, live, keep):
        (d / "sub").mkdir(parents=True)
    os.symlink(keep, planted_link)  # someone else's link named like a stale folder
    with scratch_dir("laps-test", dir=tmp_path) as path:
        assert path.name.startswith(f"laps-test-h{host}p{os.getpid()}-")
        assert not stale.exists() and live.is_dir()
    assert (keep / "sub").is_dir() and planted_link.is_symlink()
    assert sweep_stale("laps-test", dir=tmp_path) == []


@pytest.mark.parametrize(
    ("date", "station"),
    [("2026-01-01", "../x"), ("2026-01-01", "a/b"), ("2026-01-01", "a=b"), ("../x", "st1"),
     ("2026-13-45", "st1"), ("2026-01-01", "st 1"), ("2026-01-01", "")],
)  # fmt: skip
def test_partition_folders_refuse_names_that_are_not_plain(date: str, station: str) -> None:
    from pipeline.io import keys

    for make in (keys.partition_dir, keys.segments_prefix, keys.clips_prefix):
        with pytest.raises(ValueError):
            make(date, station)
    with pytest.raises(ValueError):
        keys.tracks_key("fp", date, station, "ab" * 32, 0, 0)
