"""Copy-paste loading snippets of the dataset card, one fenced ``python`` block each (the
templates are ``card_snippets/*.py.txt``).

Each snippet starts with ``ROOT = "<publish root>"`` (the absolute local folder, or
``s3://bucket/prefix/publish``) and runs as written against the store it was generated for:
the tests extract every block from a real card and execute it. Shards and tables are found
through ``shard_index.parquet`` (no globbing of shard names). ``s3://`` roots are read with
pyarrow's S3 filesystem and boto3, which take credentials and ``AWS_ENDPOINT_URL`` (for
S3-compatible servers) from the usual ``AWS_*`` environment variables; shards are streamed
with boto3 through a webdataset URL handler (no ``aws`` CLI, no full download).
"""

from __future__ import annotations

from importlib import resources

TEMPLATES = resources.files("pipeline.publish") / "card_snippets"


def template(name: str) -> str:
    """The text of ``card_snippets/<name>.py.txt`` (``ROOT = __ROOT__`` still unbound). The
    templates are data files, not modules: they are the users' code, run only by the tests."""
    return (TEMPLATES / f"{name}.py.txt").read_text()


def lerobot_snippet(root: str) -> str:
    """The card's LeRobot block (it needs lerobot installed: run by the consumer test in
    ``.venv-lerobot``, not with the other snippets)."""
    return render(template("lerobot"), root)


def render(text: str, root: str) -> str:
    """A snippet with its ``ROOT`` bound to ``root`` (a Python string literal)."""
    return text.replace("__ROOT__", repr(root))


def snippets(root: str) -> dict[str, str]:
    """Title -> code of every loading snippet for a publish root (local path or s3:// URI)."""
    duck = "duckdb_s3" if root.startswith("s3://") else "duckdb_local"
    return {
        "WebDataset + PyTorch DataLoader": render(template("webdataset"), root),
        "pyarrow": render(template("pyarrow"), root),
        "DuckDB": render(template(duck), root),
        "Latent-action JSONL (LAPA style)": render(template("jsonl"), root),
    }
