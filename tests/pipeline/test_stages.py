"""The one stage list and the one pipeline config."""

from __future__ import annotations

import inspect

import pytest

from pipeline.errors import ConfigError
from pipeline.segments.config import SegmentationConfig
from pipeline.stages import (
    STAGE_NAMES,
    STAGES,
    PipelineConfig,
    StageContext,
    load_pipeline_config,
    run_stages,
)
from pipeline.tokens.config import FROM_WINDOWS, TokenizerSection, tokenizer_config


def test_stages_are_declared_once_in_data_flow_order():
    assert STAGE_NAMES == (
        "ingest", "chunks", "tracks", "tokenizer", "codes", "segments", "labels", "library",
        "clusters", "publish", "card",
    )  # fmt: skip
    written: set[str] = {"landing"}
    for s in STAGES:
        missing = set(s.reads) - written
        assert not missing, f"stage {s.name} reads {missing} before any stage writes them"
        written |= set(s.writes)
    assert [s.name for s in STAGES if not s.partitioned] == ["tokenizer", "library", "card"]


def test_run_stages_refuses_unknown_names(tmp_path):
    from pipeline.io.storage import LocalStorage

    ctx = StageContext(store=LocalStorage(tmp_path), date="2026-01-01", station="s")
    with pytest.raises(ConfigError, match="unknown stages"):
        run_stages(ctx, ["ingest", "teleport"])


def test_legacy_segmentation_only_files_still_load():
    legacy = {"method": "hysteresis", "max_len_sec": 2.0}
    cfg = load_pipeline_config(legacy)
    assert cfg.segmentation == SegmentationConfig(**legacy)
    assert cfg.segmentation.fingerprint() == SegmentationConfig(**legacy).fingerprint()
    assert load_pipeline_config({}) == PipelineConfig()


def test_a_partial_nested_section_keeps_the_parents_defaults():
    cfg = load_pipeline_config({"segmentation": {"changepoint": {"beta": 5.0}}})
    default = SegmentationConfig().changepoint
    assert cfg.segmentation.changepoint == default.model_copy(update={"beta": 5.0})
    assert cfg.segmentation.changepoint.rule == "repeat"  # not ChangePointParams' default


@pytest.mark.parametrize(
    "raw",
    [
        {"segmentation": {"nope": 1}},
        {"tokenizer": {"d_model": 30, "heads": 4}},  # the model's own validator
        {"windows": {"stride_frames": 20}},
        {"tokenizer": {"window_frames": 8}},  # comes from windows, never set by hand
    ],
)
def test_bad_configs_raise_config_error(raw):
    with pytest.raises(ConfigError):
        load_pipeline_config(raw)


def test_tokenizer_section_is_the_model_config_minus_the_windowing():
    from models.tokenizer import TokenizerConfig

    model_fields = set(TokenizerConfig.model_fields) - set(FROM_WINDOWS)
    assert model_fields <= set(TokenizerSection.model_fields)
    for name in model_fields:
        assert (
            TokenizerSection.model_fields[name].default
            == TokenizerConfig.model_fields[name].default
        )
    cfg = PipelineConfig.model_validate(
        {"windows": {"window_frames": 8, "grid_size": 5, "stride_frames": 2}}
    )
    tok = cfg.tokenizer_config()
    assert (tok.window_frames, tok.grid_size) == (8, 5)
    assert tokenizer_config(cfg.windows, cfg.tokenizer, max_epochs=2).max_epochs == 2
    assert tokenizer_config(PipelineConfig().windows) == TokenizerConfig()


def test_every_stage_function_takes_only_the_context():
    for s in STAGES:
        assert list(inspect.signature(s.run).parameters) == ["ctx"], s.name
