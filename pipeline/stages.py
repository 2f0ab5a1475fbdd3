"""The pipeline's stages, in order, declared once.

``STAGES`` is the only place that says what runs after what and what each stage reads and
writes. ``laps segment`` runs it on a folder (``run_stages``), the Dagster assets each run one
stage of it for a partition (``run_stage``), and ``make demo`` runs the assets. A stage function
takes a ``StageContext`` (where the data is, which partition, the whole ``PipelineConfig``) and
returns a ``StageSummary``; whatever a stage produces (tables, files, plots, history for its
checks) it produces itself, so every caller gets the same outputs.

``PipelineConfig`` has one section per stage; it is the shape of ``laps segment --config`` files
and of the Dagster ``laps_config`` resource (whose fields are generated from it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from pipeline.config import FrozenConfig, VideoConfig, WindowConfig
from pipeline.context import Progress, StageSummary, no_progress
from pipeline.discovery.config import DiscoveryConfig
from pipeline.errors import ConfigError
from pipeline.ingest.landing import LandedFile
from pipeline.io.storage import Storage
from pipeline.language.config import LanguageConfig
from pipeline.publish.config import PublishConfig
from pipeline.segments.clips import ClipConfig
from pipeline.segments.config import SegmentationConfig
from pipeline.tokens.config import TokenizerSection, tokenizer_config
from pipeline.tracks.tracking import TrackingConfig

log = logging.getLogger(__name__)


class PipelineConfig(FrozenConfig):
    """Every setting of every stage (defaults run). Sections are the stages' own configs."""

    video: VideoConfig = VideoConfig()
    windows: WindowConfig = WindowConfig()
    tracking: TrackingConfig = TrackingConfig()
    tokenizer: TokenizerSection = TokenizerSection()  # type: ignore[valid-type]
    segmentation: SegmentationConfig = SegmentationConfig()
    write_clips: bool = Field(True, description="cut one H.264 clip per segment")
    clips: ClipConfig = ClipConfig()
    workers: int = Field(
        1, ge=1, le=256,
        description="processes for the per-video work of a partition (tracks, clips); the "
        "outputs are the same for any number",
    )  # fmt: skip
    language: LanguageConfig = LanguageConfig()
    discovery: DiscoveryConfig = DiscoveryConfig()
    publish: PublishConfig = PublishConfig()

    @model_validator(mode="after")
    def _tokenizer_fits(self) -> PipelineConfig:
        self.tokenizer_config()  # raises ValueError (a validation error) when inconsistent
        return self

    def tokenizer_config(self):  # -> models.tokenizer.TokenizerConfig
        return tokenizer_config(self.windows, self.tokenizer)


PUBLISH_STAGES = ("publish", "card")  # what `laps segment --no-shards` leaves out


def load_pipeline_config(raw: dict[str, Any]) -> PipelineConfig:
    """A ``PipelineConfig`` from a config file's content. A file whose keys are all
    ``SegmentationConfig`` fields (the format ``laps segment --config`` took before the other
    sections existed) is read as the ``segmentation`` section."""
    legacy = not set(raw) & set(PipelineConfig.model_fields)
    if raw and legacy and set(raw) <= set(SegmentationConfig.model_fields):
        raw = {"segmentation": raw}
    try:
        return PipelineConfig.model_validate(_merged(PipelineConfig().model_dump(), raw))
    except ValidationError as exc:
        raise ConfigError(f"invalid pipeline config: {describe_invalid(exc)}") from exc
    except ValueError as exc:
        raise ConfigError(f"invalid pipeline config: {exc}") from exc


def describe_invalid(exc: ValidationError) -> str:
    """One line for pydantic's multi-line report: ``key.path=value: what is wrong; ...``."""
    parts = []
    for err in exc.errors(include_url=False):
        where = ".".join(str(p) for p in err["loc"]) or "config"
        msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"]
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f"={value!r}"
        parts.append(f"{where}{shown}: {msg.removeprefix('Value error, ')}")
    return "; ".join(parts)


def _merged(defaults: dict[str, Any], raw: dict[str, Any]) -> dict[str, Any]:
    """``raw`` on top of ``defaults``, section by section: a partial nested section (e.g.
    ``{"segmentation": {"changepoint": {"beta": 5}}}``) keeps the other defaults of its parent
    (here the segmenter's ``noise_gain`` rule), not those of the nested class. Unknown keys are
    kept, so validation names them."""
    out = dict(defaults)
    for key, value in raw.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merged(out[key], value)
        else:
            out[key] = value
    return out


@dataclass
class StageContext:
    """What a stage is handed: where the data is, which partition, the config, and options."""

    store: Storage
    date: str
    station: str
    config: PipelineConfig = field(default_factory=PipelineConfig)
    landing: Storage | None = None
    files: list[LandedFile] | None = None  # ingest: these files (default: discover in landing)
    checkpoint: Path | None = None  # tokenizer: install this checkpoint instead of training
    force_training: bool = False
    progress: Progress = no_progress
    vlm_api_key: str | None = None  # labels: the key (a Dagster secret); None: the env var


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline: its name, what it reads and writes (tables or store
    prefixes), whether it works on one partition or on the whole store, and its function."""

    name: str
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    run: Callable[[StageContext], StageSummary]
    partitioned: bool = True
    description: str = ""


def _ingest(ctx: StageContext) -> StageSummary:
    from pipeline.ingest.stage import ingest_partition

    if ctx.landing is None:
        raise ConfigError("the ingest stage needs a landing location")
    files = ctx.files
    done = iter(range(1, 1 + (len(files) if files is not None else 0)))

    def on_file(f: LandedFile) -> None:
        log.info("probing %s", f.key)
        if files is not None:
            ctx.progress("probing", next(done), len(files))

    result, summary = ingest_partition(
        ctx.landing, ctx.store, ctx.date, ctx.station,
        video=ctx.config.video, windows=ctx.config.windows, files=files, on_file=on_file,
    )  # fmt: skip
    summary.output = result
    return summary


def _chunks(ctx: StageContext) -> StageSummary:
    from pipeline.ingest.stage import chunk_partition

    rows, summary = chunk_partition(
        ctx.store, ctx.date, ctx.station, video=ctx.config.video, windows=ctx.config.windows
    )
    summary.output = rows
    return summary


def _tracks(ctx: StageContext) -> StageSummary:
    from pipeline.io.tables import read_partition
    from pipeline.segments.station import impossible_options
    from pipeline.tracks.stage import track_partition

    videos = read_partition(ctx.store, "videos", ctx.date, ctx.station)
    problems = impossible_options(
        videos.to_pylist() if videos is not None else [], ctx.config.segmentation,
        stride=ctx.config.windows.stride_frames, window_frames=ctx.config.windows.window_frames,
    )  # fmt: skip
    if problems:  # refused before the heavy work, not after it
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ConfigError(problems[0] + more)

    # progress per video (a long video is several 10-minute chunks): a video is done when its
    # last chunk is (track_partition goes through the chunks table in its order)
    chunks = read_partition(ctx.store, "chunks", ctx.date, ctx.station)
    order = chunks.column("video_id").to_pylist() if chunks is not None else []
    last_chunk = {vid: n for n, vid in enumerate(order)}
    ctx.progress("tracking", 0, len(last_chunk))

    def on_chunk(done: int, total: int) -> None:
        log.info("tracked chunk %d/%d", done, total)
        videos_done = sum(1 for n in last_chunk.values() if n < done)
        ctx.progress("tracking", videos_done, len(last_chunk))

    rows, summary = track_partition(
        ctx.store, ctx.date, ctx.station, video=ctx.config.video, windows=ctx.config.windows,
        tracking=ctx.config.tracking, on_chunk=on_chunk, workers=ctx.config.workers,
    )  # fmt: skip
    ctx.progress("tracking", len(last_chunk), len(last_chunk))  # (a failed last video too)
    summary.output = rows
    return summary


def _tokenizer(ctx: StageContext) -> StageSummary:
    from pipeline.tokens.stage import tokenizer_stage

    return tokenizer_stage(
        ctx.store, ctx.config.tokenizer_config(),
        checkpoint=ctx.checkpoint, force=ctx.force_training,
        max_time_s=ctx.config.tokenizer.max_train_seconds, device=ctx.config.tokenizer.device,
        retrain=ctx.config.tokenizer.retrain, progress=ctx.progress,
    )  # fmt: skip


def _codes(ctx: StageContext) -> StageSummary:
    from pipeline.tokens.stage import codes_stage

    return codes_stage(
        ctx.store, ctx.date, ctx.station, ctx.config.tokenizer_config(),
        batch_size=ctx.config.tokenizer.inference_batch_size,
        device=ctx.config.tokenizer.device, progress=ctx.progress,
    )  # fmt: skip


def _segments(ctx: StageContext) -> StageSummary:
    from pipeline.segments.stage import segment_partition

    def on_video(done: int, total: int, name: str) -> None:
        log.info("segmented %s (%d/%d)", name, done, total)
        ctx.progress("segmenting", done, total)

    return segment_partition(
        ctx.store, ctx.date, ctx.station, ctx.config.segmentation,
        write_clips=ctx.config.write_clips, on_video=on_video, clips=ctx.config.clips,
        workers=ctx.config.workers,
        on_clips=lambda done, total: ctx.progress("cutting clips", done, total),
    )  # fmt: skip


def _labels(ctx: StageContext) -> StageSummary:
    from pipeline.language.stage import label_partition

    def on_segment(done: int, total: int) -> None:
        ctx.progress("labelling", done, total)

    return label_partition(
        ctx.store, ctx.date, ctx.station, ctx.config.language, api_key=ctx.vlm_api_key,
        progress=on_segment,
    )  # fmt: skip


def _library(ctx: StageContext) -> StageSummary:
    from pipeline.discovery.stage import library_stage

    return library_stage(ctx.store, ctx.config.discovery, progress=ctx.progress)


def _clusters(ctx: StageContext) -> StageSummary:
    from pipeline.discovery.stage import cluster_partition

    return cluster_partition(ctx.store, ctx.date, ctx.station, ctx.config.discovery)


def _publish(ctx: StageContext) -> StageSummary:
    from pipeline.publish.stage import publish_partition

    # the card covers every partition: its own store-wide stage writes it once, after them
    cfg = ctx.config.publish.model_copy(update={"write_card": False})
    return publish_partition(ctx.store, ctx.date, ctx.station, cfg, on_progress=ctx.progress)


def _card(ctx: StageContext) -> StageSummary:
    from pipeline.discovery.outputs import write_library_outputs
    from pipeline.io import keys
    from pipeline.publish.card import write_card

    library = write_library_outputs(ctx.store, ctx.config.discovery)
    stats = write_card(ctx.store, library)
    out = {"card": keys.CARD_KEY}
    if library.get("library_version"):
        out.update(clusters=keys.CLUSTERS_KEY, gallery=keys.GALLERY_KEY)
    return StageSummary(keys=out, extra=stats)


STAGES: tuple[Stage, ...] = (
    Stage("ingest", ("landing",), ("videos", "quarantine"), _ingest,
          description="probe and hash landed videos, quarantine bad files"),
    Stage("chunks", ("videos",), ("chunks",), _chunks,
          description="plan fixed-length chunks that own the windows starting in them"),
    Stage("tracks", ("videos", "chunks"), ("windows", "tracks/", "failures"), _tracks,
          description="track a point grid through every window (CPU dense flow); a video that "
          "cannot be decoded any more becomes a failures row, the others go on"),
    Stage("tokenizer", ("windows", "tracks/"), ("models/tokenizer/",), _tokenizer,
          partitioned=False,
          description="train (or reuse, or install) the motion tokenizer on all stored tracks"),
    Stage("codes", ("windows", "tracks/", "models/tokenizer/"), ("codes",), _codes,
          description="latent action codes per window"),
    Stage("segments", ("videos", "windows", "codes", "tracks/", "failures"),
          ("energy", "segments", "segments/", "clips/", "plots/", "failures"), _segments,
          description="energy, label-free thresholds, segments, segment files, clips, plots"),
    Stage("labels", ("segments", "clips/"), ("segment_labels", "labels/cache/"), _labels,
          description="a verb and an instruction per segment from an OpenAI-compatible "
          "vision-language endpoint (keyframes as images; cached); off without an endpoint"),
    Stage("library", ("segments", "tracks/", "segment_labels"), ("models/primitive_library/",),
          _library, partitioned=False,
          description="fit (or reuse) the primitive library: k-means on segment embeddings, "
          "k by silhouette, ids kept across refits"),
    Stage("clusters", ("segments", "models/primitive_library/"), ("segment_clusters",),
          _clusters, description="each segment's nearest primitive cluster"),
    Stage("publish", ("segments", "videos", "windows", "codes", "clips/", "segment_clusters",
                      "segment_labels"),
          ("publish/shards/", "publish/dataset/", "publish/latent_actions/"), _publish,
          description="WebDataset shards, the Parquet dataset and the latent-action JSONL"),
    Stage("card", ("publish/shards/", "publish/dataset/", "videos", "segment_clusters",
                   "models/primitive_library/"),
          ("publish/README.md", "publish/card/", "publish/shard_index.parquet",
           "publish/clusters.parquet", "publish/gallery/"), _card,
          partitioned=False, description="the dataset card over every published partition"),
)  # fmt: skip

STAGE_NAMES = tuple(s.name for s in STAGES)


def stage(name: str) -> Stage:
    for s in STAGES:
        if s.name == name:
            return s
    raise ConfigError(f"no stage {name!r}; stages are {', '.join(STAGE_NAMES)}")


def run_stage(name: str, ctx: StageContext) -> StageSummary:
    """Run one stage (what a Dagster asset does for its partition)."""
    s = stage(name)
    log.info("stage %s: %s/%s", s.name, ctx.date, ctx.station)
    return s.run(ctx)


def run_stages(
    ctx: StageContext,
    names: Iterable[str] | None = None,
    *,
    stop_after: Callable[[str, StageSummary], bool] | None = None,
) -> dict[str, StageSummary]:
    """Run the named stages (default: all) in ``STAGES`` order. ``stop_after(name, summary)``
    returning True ends the run after that stage (e.g. nothing was ingested)."""
    wanted = set(STAGE_NAMES if names is None else names)
    unknown = wanted - set(STAGE_NAMES)
    if unknown:
        raise ConfigError(f"unknown stages {sorted(unknown)}; stages are {', '.join(STAGE_NAMES)}")
    out: dict[str, StageSummary] = {}
    for s in STAGES:
        if s.name not in wanted:
            continue
        out[s.name] = run_stage(s.name, ctx)
        if stop_after is not None and stop_after(s.name, out[s.name]):
            break
    return out
