"""`laps eval-tokenizer`: how much the store's current tokenizer's codes say about the motion.

The report is ``pipeline.tokens.evaluate.evaluate_tokenizer`` (its module doc defines every
number); stdout gets a markdown summary, ``--json`` the full report.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import click


def _finite(obj):
    """NaN/inf -> None, recursively (strict JSON)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


@click.command("eval-tokenizer")
@click.option(
    "--store",
    "store_dir",
    required=True,
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="store root (a `laps segment` output) with tracks, windows, codes and a tokenizer",
)
@click.option(
    "--gt",
    "gt_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="ground-truth <stem>.segments.json folder: adds LAE ROC AUC and k-means NMI",
)
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="write the report"
)
@click.option(
    "--seed", default=0, show_default=True, type=int, help="shuffle / point / k-means seed"
)
def eval_tokenizer(store_dir: Path, gt_dir: Path | None, json_path: Path | None, seed: int) -> None:
    """Decoder loss with true / shuffled / constant codes on held-out videos, codebook usage,
    and with --gt LAE AUC and latent NMI beside track statistics."""
    from pipeline.tokens.evaluate import evaluate_tokenizer, report_markdown

    report = evaluate_tokenizer(store_dir, gt_dir, seed=seed)
    click.echo(report_markdown(report), nl=False)
    if json_path:
        write_report(json_path, report)


def write_report(json_path: Path, report: dict) -> None:
    """Strict JSON (NaN -> null), written atomically next to its final name."""
    json_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = json_path.with_name(f".{json_path.name}.tmp")
    tmp.write_text(json.dumps(_finite(report), indent=1, allow_nan=False) + "\n")
    tmp.replace(json_path)
    click.echo(f"wrote {json_path}", err=True)
