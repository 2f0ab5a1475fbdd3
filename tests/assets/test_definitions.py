"""The asset graph follows the stage list; the resources are generated from the core configs."""

import dagster as dg

from assets.definitions import EXPORT_ASSETS, STAGE_ASSETS, defs
from assets.resources import LapsConfig
from pipeline.segments.config import SegmentationConfig
from pipeline.stages import STAGES, PipelineConfig


def test_asset_graph_runs_the_stages_in_the_stage_lists_order():
    graph = defs.resolve_asset_graph()
    stage_of = {key: s.name for s in STAGES for key in STAGE_ASSETS[s.name]}
    order = {s.name: i for i, s in enumerate(STAGES)}
    every = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert set(stage_of) | set(EXPORT_ASSETS) == every
    for key_str, stage in stage_of.items():
        node = graph.get(dg.AssetKey(key_str))
        for parent in node.parent_keys:
            parent_stage = stage_of[parent.to_user_string()]
            assert order[parent_stage] <= order[stage], (key_str, parent.to_user_string())


def test_laps_config_fields_and_defaults_come_from_the_pipeline_config():
    assert LapsConfig().pipeline() == PipelineConfig()
    fields = LapsConfig.model_fields
    assert set(fields) == set(PipelineConfig.model_fields)
    seg_fields = fields["segmentation"].annotation.model_fields
    assert set(seg_fields) == set(SegmentationConfig.model_fields)  # every field settable
    for name, info in SegmentationConfig.model_fields.items():
        assert seg_fields[name].description == info.description, name
    assert seg_fields["max_len_sec"].default is None  # None, not 0.0, means "no cap"


def test_run_config_reaches_every_section_of_the_core_config():
    seen = {}

    @dg.asset
    def probe(laps_config: LapsConfig) -> None:
        seen["cfg"] = laps_config.pipeline()

    run_config = {
        "resources": {
            "laps_config": {
                "config": {
                    "segmentation": {"changepoint": {"beta": 7.0}, "features": ["motion"]},
                    "tokenizer": {"max_epochs": 2, "fsq_levels": [8, 8, 6, 5]},
                    "windows": {"stride_frames": 2},
                    "write_clips": False,
                }
            }
        }
    }
    result = dg.materialize([probe], resources={"laps_config": LapsConfig()}, run_config=run_config)
    assert result.success
    cfg = seen["cfg"]
    assert cfg.segmentation.changepoint.beta == 7.0
    assert cfg.segmentation.changepoint.rule == SegmentationConfig().changepoint.rule
    assert cfg.segmentation.features == ("motion",)
    assert cfg.tokenizer_config().fsq_levels == (8, 8, 6, 5)
    assert cfg.windows.stride_frames == 2 and cfg.write_clips is False
