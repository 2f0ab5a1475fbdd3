"""Settings of primitive discovery (the ``discovery`` section of the pipeline config)."""

from __future__ import annotations

from pydantic import Field, model_validator

from pipeline.config import FrozenConfig


class DiscoveryConfig(FrozenConfig):
    """How segments become a library of primitive clusters (pipeline.discovery)."""

    enabled: bool = Field(True, description="fit the library and assign clusters")
    embedding: str = Field(
        "motion_summary",
        description="segment embedding: motion_summary | latent_transformer | code_bag "
        "(default chosen on development seeds, BENCHMARKS.md)",
    )
    k_min: int = Field(3, ge=2, description="fewest clusters the silhouette search tries")
    k_max: int = Field(16, ge=2, description="most clusters the silhouette search tries")
    n_init: int = Field(10, ge=1, description="k-means restarts per k")
    min_cluster_segments: int = Field(
        2, ge=1, description="k is at most segments / this (no clusters of one segment)"
    )
    silhouette_tolerance: float = Field(
        0.0,
        ge=0.0,
        description="k is the largest whose silhouette is within this of the best (0: the "
        "best; 0.005 did not help on the development seeds, BENCHMARKS.md)",
    )
    seed: int = Field(0, description="seed of k-means, the sample and the frozen encoder")
    max_fit_segments: int = Field(
        20000, ge=10, description="fit on at most this many segments (stratified by partition)"
    )
    refit: bool = Field(
        False,
        description="fit a new library even when the current one fits the config (ids of "
        "matching clusters are kept: Hungarian matching on centroids)",
    )
    exemplars: int = Field(4, ge=1, le=20, description="exemplar segments per cluster")
    icss_clip_model: str | None = Field(
        None,
        description="folder of a CLIP model (transformers format) for ICSS; unset: the "
        "built-in non-semantic colour/texture fallback",
    )
    icss_samples_per_cluster: int = Field(
        24, ge=2, description="segments per cluster whose keyframes ICSS embeds"
    )

    @model_validator(mode="after")
    def _check(self) -> DiscoveryConfig:
        from pipeline.discovery.embeddings import EMBEDDINGS

        if self.embedding not in EMBEDDINGS:
            raise ValueError(f"embedding {self.embedding!r} is not one of {', '.join(EMBEDDINGS)}")
        if self.k_max < self.k_min:
            raise ValueError(f"k_max {self.k_max} is below k_min {self.k_min}")
        return self

    def fit_fingerprint(self) -> str:
        """The settings a fitted library depends on (not ``refit``, exemplars or ICSS), and
        the version of its embedding's definition."""
        from pipeline.discovery.embeddings import EMBEDDING_VERSIONS

        keep = ("embedding", "k_min", "k_max", "n_init", "seed", "max_fit_segments",
                "min_cluster_segments", "silhouette_tolerance")  # fmt: skip
        return FrozenConfig.fingerprint(_Fit(
            **{k: getattr(self, k) for k in keep},
            embedding_version=EMBEDDING_VERSIONS.get(self.embedding, 0),
        ))  # fmt: skip


class _Fit(FrozenConfig):
    embedding: str
    embedding_version: int
    silhouette_tolerance: float
    k_min: int
    k_max: int
    n_init: int
    min_cluster_segments: int
    seed: int
    max_fit_segments: int
