"""The segment_labels asset in a real Dagster run: the API key comes from a ``dg.EnvVar``
secret, the answers come from the OpenAI-compatible server on loopback, and the key never
reaches the run's metadata."""

from __future__ import annotations

import json
import shutil

import dagster as dg
from vlmserver import VlmServer, answer

from assets.language import segment_labels
from assets.partitions import partition_key, register
from assets.resources import LapsConfig, LapsStorage, VlmCredentials
from pipeline.io.storage import LocalStorage
from pipeline.io.tables import read_partition


def test_segment_labels_materializes_with_an_envvar_key(segmented_store, parts, tmp_path,
                                                        monkeypatch):  # fmt: skip
    root = tmp_path / "store"
    shutil.copytree(segmented_store, root)
    monkeypatch.setenv("LAPS_VLM_API_KEY", "sk-dagster-secret-123")
    date, station = parts.a
    with VlmServer(default=answer("insert", "Insert the pin into the fixture.")) as server:
        instance = dg.DagsterInstance.ephemeral()
        register(instance, [(date, station)])
        result = dg.materialize(
            [segment_labels],
            partition_key=str(partition_key(date, station)),
            instance=instance,
            resources={
                "storage": LapsStorage(store_uri=str(root), data_root=str(tmp_path)),
                "laps_config": LapsConfig(
                    language={"base_url": server.base_url, "model": server.model}
                ),
                "vlm_credentials": VlmCredentials(api_key=dg.EnvVar("LAPS_VLM_API_KEY")),
            },
        )
        assert result.success
        assert server.requests
        assert {r.headers["authorization"] for r in server.requests} == {
            "Bearer sk-dagster-secret-123"
        }
    rows = read_partition(LocalStorage(root), "segment_labels", date, station).to_pylist()
    assert {r["status"] for r in rows} == {"ok"}
    assert {r["instruction"] for r in rows} == {"Insert the pin into the fixture."}
    (mat,) = result.asset_materializations_for_node("segment_labels")
    meta = {k: v.value for k, v in mat.metadata.items()}
    assert meta["enabled"] is True and meta["labelled"] == len(rows)
    assert "sk-dagster" not in json.dumps(meta, default=str)
    (check,) = result.get_asset_check_evaluations()
    assert check.passed
