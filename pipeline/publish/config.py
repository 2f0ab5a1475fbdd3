"""Typed configuration of the publish stage (``publish_partition``)."""

from __future__ import annotations

from pydantic import Field

from pipeline.config import FrozenConfig


class PublishConfig(FrozenConfig):
    """What ``publish_partition`` writes and how shards are cut (``pipeline.io.keys``)."""

    shard_maxcount: int = Field(
        10_000, ge=1, description="samples per WebDataset shard before a new shard is started"
    )
    shard_maxsize: int = Field(
        1_000_000_000,
        ge=1,
        description="bytes per shard (tar headers and padding included) before a new shard is "
        "started; one sample larger than this gets a shard of its own",
    )
    write_jsonl: bool = Field(
        True, description="write the LAPA-style latent-action JSONL (one line per 0.1 s step)"
    )
    write_card: bool = Field(
        True,
        description="rewrite the store's dataset card (README.md, PNGs, shard index); the stage "
        "list leaves it to its own store-wide `card` stage",
    )
    read_workers: int = Field(
        8, ge=1, le=64, description="clips read from the store concurrently (S3 round trips)"
    )
    zero_gated_latents: bool = Field(
        True,
        description="gated (idle) windows add zero vectors to the per-step latent average, as in "
        "the segmenter's zpre feature (pipeline.segments.signals); False averages their latents",
    )
