"""`laps eval-clusters`: how well the primitive clusters of a store's predicted segments match
true primitive labels (NMI, ARI, purity), per segment embedding.

The report is ``pipeline.evaluation.clusters.evaluate_clusters`` (its module doc defines every
number); stdout gets a markdown table, ``--json`` the full report. The store is only read: the
clustering here is fitted in memory and never replaces the store's library.
"""

from __future__ import annotations

from pathlib import Path

import click

from pipeline.cli.eval_tokenizer import write_report


@click.command("eval-clusters")
@click.option(
    "--store",
    "store_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="store root (a `laps segment` output) with segments, windows, codes and tracks",
)
@click.option(
    "--gt",
    "gt_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="ground-truth <stem>.segments.json folder with primitive labels",
)
@click.option(
    "--embedding",
    "embeddings",
    multiple=True,
    type=click.Choice(["motion_summary", "latent_transformer", "code_bag"]),
    help="embeddings to score (repeatable; default: all three)",
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="write the report"
)
@click.option("--seed", default=0, show_default=True, type=int, help="k-means / encoder seed")
def eval_clusters(
    store_dir: Path, gt_dir: Path, embeddings: tuple[str, ...], json_path: Path | None, seed: int
) -> None:
    """NMI / ARI / purity of the clusters of predicted segments against the true labels they
    overlap most, with automatic k (silhouette) and with k = the true number of labels."""
    from pipeline.discovery.config import DiscoveryConfig
    from pipeline.discovery.embeddings import EMBEDDINGS
    from pipeline.evaluation.clusters import evaluate_clusters, report_markdown
    from pipeline.io.storage import LocalStorage

    report = evaluate_clusters(
        LocalStorage(store_dir), gt_dir, cfg=DiscoveryConfig(seed=seed),
        embeddings=embeddings or EMBEDDINGS,
    )  # fmt: skip
    labels = ", ".join(f"{k} {v}" for k, v in report["labels"].items())
    click.echo(f"{report['segments']} predicted segments with ground truth; true labels: {labels}")
    click.echo(report_markdown(report))
    if json_path:
        write_report(json_path, report)
