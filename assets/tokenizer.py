"""Tokenizer assets: train (or reuse) the motion tokenizer; latent action codes per window
(``pipeline.stages`` stages ``tokenizer`` and ``codes``)."""

import base64

import dagster as dg

from assets.checks import blocking_specs, results
from assets.metadata import rounded, standard, table_metadata
from assets.motion import tracks
from assets.partitions import date_and_station, date_station
from assets.resources import LapsConfig, LapsStorage, stage_context
from assets.retries import run_stage
from pipeline.checks import codes_checks
from pipeline.io import schemas

CODE_CHECKS = blocking_specs("latent_codes", {
    "schema_version": f"the written codes table is at schema version {schemas.CODES_VERSION}",
    "unique_windows": "no (video_id, window_index) appears twice",
    "no_nulls": "no null in a non-nullable column of the written codes table",
    "token_range": "every code is in [0, codebook_size)",
    "every_window_has_codes": "every non-gated window of the windows table has a codes row "
    "(and every codes row is a stored window)",
})  # fmt: skip


@dg.asset(
    group_name="training",
    kinds={"pytorch"},
    deps=[tracks],
    pool="gpu",
    **standard("tokenizer"),
    description="Motion tokenizer (causal Transformer + FSQ) trained without labels on every "
    "stored track window; reused when config and training files are unchanged.",
)
def motion_tokenizer(
    context: dg.AssetExecutionContext, storage: LapsStorage, laps_config: LapsConfig
) -> dg.MaterializeResult:
    summary = run_stage("tokenizer", stage_context(storage, laps_config))
    info = summary.extra
    context.log.info(
        f"tokenizer {info['tokenizer_version']} ({'trained' if info['trained'] else 'reused'})"
    )
    store = storage.store()
    meta = {
        "tokenizer_version": info["tokenizer_version"],
        "trained": info["trained"],
        "training_videos": info["training_videos"],
        "checkpoint": dg.MetadataValue.path(store.uri(summary.keys["checkpoint"])),
        "final_train_loss": info["final_train_loss"],
        "final_val_loss": info["final_val_loss"],
        "device": info["device"],
        "loss_curve": dg.MetadataValue.md(_loss_table(info["history"])),
    }
    meta["retrain_decision"] = info["retrain_decision"]
    meta["train_steps"] = info["train_steps"]
    meta["train_windows_per_s"] = info["train_windows_per_s"]
    meta["stopped_early"] = info["stopped_early"]
    for h in info["history"] if info["trained"] else []:  # one line per epoch in the run's log
        context.log.info(
            f"epoch {int(h['epoch'])}: step {int(h.get('steps', 0))}, "
            f"train loss {h['train_loss']:.4f}, val loss {h['val_loss']:.4f}"
        )
    if info["loss_plot_key"]:
        meta["loss_plot"] = dg.MetadataValue.path(store.uri(info["loss_plot_key"]))
        if store.exists(info["loss_plot_key"]):
            meta["loss_plot_image"] = dg.MetadataValue.md(
                embedded_png(store.read_bytes(info["loss_plot_key"]), "tokenizer loss")
            )
    return dg.MaterializeResult(
        metadata=rounded(meta), data_version=dg.DataVersion(info["tokenizer_version"])
    )


@dg.asset(
    partitions_def=date_station,
    # a group of its own: after `training` (the tokenizer), which comes after `motion` (tracks)
    group_name="codes",
    kinds={"parquet"},
    deps=[tracks, motion_tokenizer],
    pool="gpu",
    check_specs=CODE_CHECKS,
    **standard("codes"),
    metadata=table_metadata(schemas.CODES),
    description="One row per window: latent action codes (one FSQ index per step) and the "
    "pre-quantization latent, with tokenizer version, levels, stride and fps on every row.",
)
def latent_codes(
    context: dg.AssetExecutionContext, storage: LapsStorage, laps_config: LapsConfig
) -> dg.MaterializeResult:
    date, station = date_and_station(context)
    summary = run_stage("codes", stage_context(storage, laps_config, date=date, station=station))
    info = summary.extra
    return dg.MaterializeResult(
        metadata=rounded(
            {
                "windows": summary.rows["codes"],
                "dagster/row_count": summary.rows["codes"],
                "tokenizer_version": info["tokenizer_version"],
                "codebook_size": info["codebook_size"],
                "distinct_codes": info["distinct_codes"],
                "device": info["device"],
            }
        ),
        check_results=results(codes_checks(storage.store(), date, station)),
    )


def embedded_png(png: bytes, alt: str) -> str:
    """Markdown showing ``png`` inline (a data URI: the UI renders it without reaching the store;
    this dagster has no ``MetadataValue.image``)."""
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode('ascii')})"


def _loss_table(history: list[dict]) -> str:
    lines = ["| epoch | train loss | val loss |", "|---|---|---|"]
    lines += [
        f"| {int(h['epoch'])} | {h['train_loss']:.4f} | {h['val_loss']:.4f} |" for h in history
    ]
    return "\n".join(lines)
