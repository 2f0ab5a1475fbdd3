"""Copy-paste loading snippets of the dataset card, one fenced ``python`` block each.

Each snippet starts with ``ROOT = "<publish root>"`` (the absolute local folder, or
``s3://bucket/prefix/publish``) and runs as written against the store it was generated for:
the tests extract every block from a real card and execute it. Shards and tables are found
through ``shard_index.parquet`` (no globbing of shard names). ``s3://`` roots are read with
pyarrow's S3 filesystem and boto3, which take credentials and ``AWS_ENDPOINT_URL`` (for
S3-compatible servers) from the usual ``AWS_*`` environment variables; shards are streamed
with boto3 through a webdataset URL handler (no ``aws`` CLI, no full download).
"""

from __future__ import annotations

WEBDATASET = '''\
import io
import os

import av
import boto3
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import torch
import webdataset as wds

ROOT = __ROOT__


def open_s3(url, mode="rb", bufsize=8192, **kw):
    """Stream an s3:// shard with boto3 (credentials, AWS_ENDPOINT_URL from the environment)."""
    bucket, _, key = url[len("s3://"):].partition("/")
    return boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"]


wds.gopen_schemes["s3"] = open_s3  # webdataset's URL-scheme table; local paths need nothing
fs, base = pafs.FileSystem.from_uri(ROOT)
shards = pq.read_table(f"{base}/shard_index.parquet", filesystem=fs).to_pylist()
urls = [f"{ROOT}/{s['path']}" for s in shards]


def to_example(sample):
    """One segment: RGB frames (T, H, W, 3) uint8, codes (n,), latents (n, D), metadata."""
    with av.open(io.BytesIO(sample["mp4"])) as clip:
        frames = [torch.from_numpy(f.to_ndarray(format="rgb24")) for f in clip.decode(video=0)]
    return {
        "key": sample["__key__"],
        "frames": torch.stack(frames),
        "codes": torch.from_numpy(sample["codes.npy"].astype("int64")),
        "latent": torch.from_numpy(sample["latent.npy"].astype("float32")),
        "meta": sample["json"],
    }


dataset = (
    wds.WebDataset(
        urls,
        shardshuffle=False,  # or a buffer size (e.g. 100) for training
        nodesplitter=wds.split_by_node,  # each node reads its share of the shards
        workersplitter=wds.split_by_worker,  # each DataLoader worker reads its share
        empty_check=False,
    )
    .decode()  # json -> dict, .npy -> numpy array; mp4 stays bytes
    .map(to_example)
)
workers = min(4, len(urls), os.cpu_count() or 1)  # workers beyond the shard count get nothing
loader = torch.utils.data.DataLoader(dataset, batch_size=None, num_workers=workers)
first = next(iter(loader))
print(first["key"], tuple(first["frames"].shape), first["codes"][:10].tolist())
'''

PYARROW = """\
import pyarrow.dataset as ds
import pyarrow.fs as pafs

ROOT = __ROOT__
fs, base = pafs.FileSystem.from_uri(ROOT)
segments = ds.dataset(
    f"{base}/dataset", filesystem=fs, format="parquet", partitioning="hive"
).to_table()
per_station = segments.group_by("station").aggregate([("segment_id", "count")])
print(segments.num_rows, "segments", per_station.to_pylist())
"""

DUCKDB_LOCAL = '''\
import duckdb

ROOT = __ROOT__
per_station = duckdb.sql(f"""
    select station, count(*) as segments, sum(end_sec - start_sec) / 3600 as hours
    from read_parquet('{ROOT}/dataset/**/*.parquet', hive_partitioning = true)
    group by station order by station
""").fetchall()
print(per_station)
'''

# DuckDB's httpfs extension may not be installable offline: query the pyarrow dataset instead
DUCKDB_S3 = '''\
import duckdb
import pyarrow.dataset as ds
import pyarrow.fs as pafs

ROOT = __ROOT__
fs, base = pafs.FileSystem.from_uri(ROOT)
segments = ds.dataset(f"{base}/dataset", filesystem=fs, format="parquet", partitioning="hive")
per_station = duckdb.sql("""
    select station, count(*) as segments, sum(end_sec - start_sec) / 3600 as hours
    from segments group by station order by station
""").fetchall()
print(per_station)
'''

JSONL = """\
import json

import pyarrow.fs as pafs
import pyarrow.parquet as pq

ROOT = __ROOT__
fs, base = pafs.FileSystem.from_uri(ROOT)
shards = pq.read_table(f"{base}/shard_index.parquet", filesystem=fs).to_pylist()
steps = []
for date, station in sorted({(s["date"], s["station"]) for s in shards}):
    path = f"{base}/latent_actions/date={date}/station={station}/steps.jsonl"
    with fs.open_input_stream(path) as f:
        steps += [json.loads(line) for line in f.read().decode().splitlines()]
print(len(steps), "steps; first:", steps[0] if steps else None)
"""


LEROBOT = """\
# In an environment with lerobot's dataset loader (the project's README, "LeRobot"), after
# `laps export lerobot` wrote the export under ROOT/lerobot (exports are local folders).
from lerobot.datasets.lerobot_dataset import LeRobotDataset

ROOT = __ROOT__

ds = LeRobotDataset(repo_id="local/laps", root=f"{ROOT}/lerobot")
item = ds[0]
print(ds.num_episodes, "episodes,", len(ds), "frames at", ds.fps, "fps")
print("first frame:", tuple(item["observation.images.cam"].shape), "latent action",
      int(item["action.latent"]), "task", item["task"])
"""


def lerobot_snippet(root: str) -> str:
    """The card's LeRobot block (it needs lerobot installed: run by the consumer test in
    ``.venv-lerobot``, not with the other snippets)."""
    return render(LEROBOT, root)


def render(template: str, root: str) -> str:
    """A snippet with its ``ROOT`` bound to ``root`` (a Python string literal)."""
    return template.replace("__ROOT__", repr(root))


def snippets(root: str) -> dict[str, str]:
    """Title -> code of every loading snippet for a publish root (local path or s3:// URI)."""
    duck = DUCKDB_S3 if root.startswith("s3://") else DUCKDB_LOCAL
    return {
        "WebDataset + PyTorch DataLoader": render(WEBDATASET, root),
        "pyarrow": render(PYARROW, root),
        "DuckDB": render(duck, root),
        "Latent-action JSONL (LAPA style)": render(JSONL, root),
    }
