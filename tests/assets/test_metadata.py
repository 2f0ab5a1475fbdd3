"""Standard Dagster metadata of the definitions: owners, tags, code versions, column schemas,
a group graph without a loop, rounded floats and the inline clip preview (no runs here; the
materialized metadata is asserted in tests/assets/test_tokenizer.py)."""

import base64
import graphlib
import json
import math
import subprocess
import sys

import cv2
import dagster as dg
import numpy as np
import pyarrow as pa
import pytest
from videogen import make_video

from assets.definitions import EXPORT_ASSETS, STAGE_ASSETS, defs
from assets.metadata import (
    OWNERS,
    PREVIEW_MAX_BYTES,
    clip_strip_markdown,
    code_version,
    column_schema,
    round_value,
    rounded,
)
from pipeline.errors import KeyframeError
from pipeline.io import schemas
from pipeline.publish.dataset import DATASET, DATASET_FIELDS
from pipeline.stages import PipelineConfig

STAGE_OF = {a: s for s, assets in STAGE_ASSETS.items() for a in assets}
STAGE_OF.update({a: "export" for a in EXPORT_ASSETS})
# the Arrow schema of the table each table-writing asset writes
TABLE_SCHEMAS = {
    "videos": schemas.VIDEOS,
    "chunks": schemas.CHUNKS,
    "tracks": schemas.WINDOWS,
    "latent_codes": schemas.CODES,
    "energy": schemas.ENERGY,
    "segments": schemas.SEGMENTS,
    "segment_labels": schemas.SEGMENT_LABELS,
    "segment_clusters": schemas.SEGMENT_CLUSTERS,
    "training_data": DATASET,
}


def _nodes():
    graph = defs.resolve_asset_graph()
    return graph, {k.to_user_string(): graph.get(k) for k in graph.get_all_asset_keys()}


def test_every_asset_has_owners_tags_and_a_config_code_version():
    _, nodes = _nodes()
    assert set(nodes) == set(STAGE_OF)
    for name, node in nodes.items():
        stage = STAGE_OF[name]
        assert node.owners == [OWNERS[stage]] and OWNERS[stage].startswith("team:"), name
        tags = {k: v for k, v in node.tags.items() if not k.startswith("dagster/")}
        pool = {"tokenizer": {"gpu"}, "codes": {"gpu"}, "labels": {"vlm"}}.get(stage, set())
        assert tags == {"stage": stage, **dict.fromkeys(pool, "")}, name
        assert node.code_version == code_version(stage) and node.code_version != "1", name
    cfg = PipelineConfig()  # single-section stages keep that section's own fingerprint
    assert nodes["motion_tokenizer"].code_version == cfg.tokenizer_config().fingerprint()
    assert nodes["primitive_library"].code_version == cfg.discovery.fit_fingerprint()


def test_code_versions_follow_the_config_section_their_stage_reads():
    base = PipelineConfig()
    beta = base.segmentation.changepoint.beta + 1.0
    seg = base.model_copy(
        update={"segmentation": base.segmentation.model_copy(
            update={"changepoint": base.segmentation.changepoint.model_copy(update={"beta": beta})}
        )}
    )  # fmt: skip
    assert code_version("segments", seg) != code_version("segments", base)
    for stage in ("ingest", "chunks", "tracks", "tokenizer", "codes", "labels", "publish"):
        assert code_version(stage, seg) == code_version(stage, base), stage
    grid = base.model_copy(update={"windows": base.windows.model_copy(update={"grid_size": 10})})
    assert code_version("tracks", grid) != code_version("tracks", base)
    # a limit changes what ingest admits, not the frames tracking sees
    limit = base.model_copy(update={"video": base.video.model_copy(update={"max_fps": 500.0})})
    assert code_version("ingest", limit) != code_version("ingest", base)
    assert code_version("tracks", limit) == code_version("tracks", base)
    # the clips' size is part of what the segments asset writes: a change marks it stale
    small = base.model_copy(update={"clips": base.clips.model_copy(update={"short_side": 224})})
    assert code_version("segments", small) != code_version("segments", base)
    assert code_version("tracks", small) == code_version("tracks", base)


def test_code_versions_are_the_same_in_a_fresh_interpreter():
    script = (
        "import json; from assets.metadata import OWNERS, code_version; "
        "print(json.dumps({s: code_version(s) for s in OWNERS}))"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == {s: code_version(s) for s in OWNERS}


def test_every_table_asset_shows_the_columns_of_its_arrow_schema():
    _, nodes = _nodes()
    descriptions = {n: text for n, _, _, text in DATASET_FIELDS}
    for name, node in nodes.items():
        shown = node.metadata.get("dagster/column_schema")
        if name not in TABLE_SCHEMAS:
            assert shown is None, name
            continue
        assert isinstance(shown, dg.TableSchema), name
        schema = TABLE_SCHEMAS[name]
        assert [c.name for c in shown.columns] == schema.names, name
        for col, field in zip(shown.columns, schema, strict=True):
            assert col.type == str(field.type), (name, col.name)
            assert col.constraints.nullable == field.nullable, (name, col.name)
            if name == "training_data":
                assert col.description == descriptions[col.name]
    assert nodes["videos"].metadata["dagster/column_schema"].columns[0].type == "string"
    codes = {c.name: c for c in nodes["latent_codes"].metadata["dagster/column_schema"].columns}
    assert codes["codes"].type == "list<item: int16>"
    labels = nodes["segment_labels"].metadata["dagster/column_schema"].columns
    assert {c.name for c in labels if c.constraints.nullable} == {
        "verb", "instruction", "error", "model"
    }  # fmt: skip


def test_column_descriptions_come_from_field_metadata_first():
    schema = pa.schema([
        pa.field("a", pa.int32(), nullable=False, metadata={"description": "from the field"}),
        pa.field("b", pa.timestamp("us", tz="UTC")),
    ])  # fmt: skip
    cols = column_schema(schema, {"a": "given", "b": "given b"}).columns
    assert [(c.description, c.type, c.constraints.nullable) for c in cols] == [
        ("from the field", "int32", False),
        ("given b", "timestamp[us, tz=UTC]", True),
    ]
    assert column_schema(schema).columns[1].description is None


def test_the_group_graph_has_no_loop_and_the_jobs_keep_their_assets():
    graph, nodes = _nodes()
    edges: dict[str, set[str]] = {n.group_name: set() for n in nodes.values()}
    for node in nodes.values():
        for parent in node.parent_keys:
            if (p := graph.get(parent).group_name) != node.group_name:
                edges[node.group_name].add(p)
    order = list(graphlib.TopologicalSorter(edges).static_order())  # CycleError on a loop
    assert order.index("motion") < order.index("training") < order.index("codes")
    assert order.index("codes") < order.index("segmentation")

    def selected(job: str) -> set[str]:
        keys = defs.resolve_job_def(job).asset_layer.selected_asset_keys
        return {k.to_user_string() for k in keys}

    assert selected("train_tokenizer_job") == {"motion_tokenizer"}
    assert selected("fit_library_job") == {"primitive_library"}
    assert selected("export_job") == {"lerobot_dataset"}
    partitioned = selected("partition_job")
    assert {"videos", "tracks", "latent_codes", "segment_clips", "training_data"} <= partitioned
    assert not partitioned & {"motion_tokenizer", "primitive_library", "lerobot_dataset"}


def test_rounded_keeps_four_significant_digits_everywhere():
    meta = rounded({
        "f": 0.123456789,
        "big": 123456.789,
        "tiny": 1.23456e-7,
        "i": 123456789,
        "b": True,
        "s": "0.123456789",
        "nan": float("nan"),
        "mf": dg.MetadataValue.float(2 / 3),
        "j": dg.MetadataValue.json({"x": [1 / 3, {"y": 2 / 7}], "n": 3}),
        "path": dg.MetadataValue.path("a/b"),
    })  # fmt: skip
    assert meta["f"] == 0.1235 and meta["big"] == 123500.0 and meta["tiny"] == 1.235e-7
    assert meta["i"] == 123456789 and meta["b"] is True and meta["s"] == "0.123456789"
    assert math.isnan(meta["nan"])
    assert meta["mf"].value == 0.6667
    assert meta["j"].data == {"x": [0.3333, {"y": 0.2857}], "n": 3}
    assert meta["path"] == dg.MetadataValue.path("a/b")
    assert round_value([1.0, 2.5e10]) == [1.0, 2.5e10]


def _decoded_preview(markdown: str) -> tuple[np.ndarray, int]:
    assert markdown.startswith("![") and "](data:image/jpeg;base64," in markdown
    uri = markdown.split("](", 1)[1].split(")", 1)[0]
    jpeg = base64.b64decode(uri.split("base64,", 1)[1], validate=True)
    assert jpeg[:3] == b"\xff\xd8\xff"
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img is not None
    return img, len(uri)


def test_clip_preview_is_a_small_decodable_keyframe_strip(tmp_path):
    clip = make_video(tmp_path / "c.mp4", frames=40, width=1280, height=720).read_bytes()
    img, size = _decoded_preview(clip_strip_markdown(clip, "first clip"))
    assert size < PREVIEW_MAX_BYTES
    h, w = img.shape[:2]
    assert h == 96 and w == 4 * round(1280 * 96 / 720)  # four 16:9 keyframes side by side
    with pytest.raises(KeyframeError):
        clip_strip_markdown(b"not a video" * 10, "broken")
