"""Tokenizer assets: train (or reuse) the motion tokenizer; latent action codes per window."""

import dagster as dg
import numpy as np
from pydantic import PrivateAttr

from assets.motion import tracks
from assets.partitions import date_and_station, date_station
from assets.resources import LapsConfig, LapsStorage
from models.infer import TokenizerRunner
from models.tokenizer import TokenizerConfig
from pipeline.io.storage import Storage
from pipeline.tokens.stage import (
    codes_partition,
    current_tokenizer,
    load_runner,
    tokenizer_config_for,
    train_or_reuse,
)

# The resource's defaults are the model's defaults: CLI and assets train the same config.
_DEFAULTS = TokenizerConfig().model_dump()


class TokenizerSettings(dg.ConfigurableResource):
    """Tokenizer hyper-parameters (the defaults train in minutes on a CPU) and inference batch.

    The runner is loaded once per process and version (``setup_for_execution`` semantics: the
    checkpoint in use may be trained earlier in the same run, so loading is lazy)."""

    d_model: int = _DEFAULTS["d_model"]
    enc_layers: int = _DEFAULTS["enc_layers"]
    dec_layers: int = _DEFAULTS["dec_layers"]
    heads: int = _DEFAULTS["heads"]
    fsq_levels: list[int] = list(_DEFAULTS["fsq_levels"])
    max_epochs: int = _DEFAULTS["max_epochs"]
    seed: int = _DEFAULTS["seed"]
    max_train_seconds: float = 0.0  # 0 = no limit
    batch_size: int = 256  # inference batch
    _runners: dict = PrivateAttr(default_factory=dict)

    def config(self, laps_config: LapsConfig) -> TokenizerConfig:
        return tokenizer_config_for(
            laps_config.windows(),
            d_model=self.d_model,
            enc_layers=self.enc_layers,
            dec_layers=self.dec_layers,
            heads=self.heads,
            fsq_levels=tuple(self.fsq_levels),
            max_epochs=self.max_epochs,
            seed=self.seed,
        )

    def runner(self, store: Storage, expected: TokenizerConfig) -> TokenizerRunner:
        """The current checkpoint's runner, loaded once per process and version."""
        current = current_tokenizer(store)
        key = (store.root, expected.fingerprint(), current["version"] if current else None)
        if key not in self._runners:
            self._runners[key] = load_runner(store, expected=expected, batch_size=self.batch_size)
        return self._runners[key]


@dg.asset(
    group_name="training",
    kinds={"pytorch"},
    deps=[tracks],
    pool="gpu",
    code_version=TokenizerConfig().fingerprint(),
    description="Motion tokenizer (causal Transformer + FSQ) trained without labels on every "
    "stored track window; reused when config and training files are unchanged.",
)
def motion_tokenizer(
    context: dg.AssetExecutionContext,
    storage: LapsStorage,
    laps_config: LapsConfig,
    tokenizer: TokenizerSettings,
) -> dg.MaterializeResult:
    store = storage.store()
    info = train_or_reuse(
        store, tokenizer.config(laps_config), max_time_s=tokenizer.max_train_seconds or None
    )
    context.log.info(f"tokenizer {info.version} ({'trained' if info.trained else 'reused'})")
    last = info.history[-1] if info.history else {}
    meta = {
        "tokenizer_version": info.version,
        "trained": info.trained,
        "training_videos": info.num_videos,
        "checkpoint": dg.MetadataValue.path(store.uri(info.checkpoint_key)),
        "final_train_loss": float(last.get("train_loss", float("nan"))),
        "final_val_loss": float(last.get("val_loss", float("nan"))),
        "loss_curve": dg.MetadataValue.md(_loss_table(info.history)),
    }
    if info.loss_plot_key:
        meta["loss_plot"] = dg.MetadataValue.path(store.uri(info.loss_plot_key))
    return dg.MaterializeResult(metadata=meta, data_version=dg.DataVersion(info.version))


@dg.asset(
    partitions_def=date_station,
    group_name="motion",
    kinds={"parquet"},
    deps=[tracks, motion_tokenizer],
    pool="gpu",
    check_specs=[
        dg.AssetCheckSpec(
            "token_range", asset="latent_codes", description="every code is in [0, codebook_size)"
        )
    ],
    code_version="1",
    description="One row per window: latent action codes (one FSQ index per step) and the "
    "pre-quantization latent, with tokenizer version, levels, stride and fps on every row.",
)
def latent_codes(
    context: dg.AssetExecutionContext,
    storage: LapsStorage,
    laps_config: LapsConfig,
    tokenizer: TokenizerSettings,
) -> dg.MaterializeResult:
    date, station = date_and_station(context)
    store = storage.store()
    runner = tokenizer.runner(store, tokenizer.config(laps_config))
    rows = codes_partition(store, date, station, runner)
    n = len(rows)
    flat = np.concatenate([r["codes"] for r in rows]) if rows else np.zeros(0, np.int16)
    in_range = bool(
        len(flat) == 0 or (flat.min() >= 0 and flat.max() < runner.config.codebook_size)
    )
    return dg.MaterializeResult(
        metadata={
            "windows": n,
            "tokenizer_version": runner.tokenizer_version,
            "codebook_size": runner.config.codebook_size,
            "distinct_codes": len(np.unique(flat)),
        },
        check_results=[dg.AssetCheckResult(check_name="token_range", passed=in_range)],
    )


def _loss_table(history: list[dict]) -> str:
    lines = ["| epoch | train loss | val loss |", "|---|---|---|"]
    lines += [
        f"| {int(h['epoch'])} | {h['train_loss']:.4f} | {h['val_loss']:.4f} |" for h in history
    ]
    return "\n".join(lines)
