"""LabelCache on a local folder and on a real S3 server: round trip, misses, bad entries."""

from __future__ import annotations

import json
import uuid

import pytest
from vlmserver import fake_jpeg

from pipeline.io.keys import LABEL_CACHE_PREFIX, label_cache_key
from pipeline.io.storage import S3Settings, Storage, open_storage
from pipeline.language import LabelCache, LabelRequest, PrimitiveLabel, label_segments

MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"


@pytest.fixture(params=["local", pytest.param("s3", marks=pytest.mark.s3)])
def store(request: pytest.FixtureRequest, tmp_path) -> Storage:
    if request.param == "local":
        return open_storage(tmp_path / "root")
    server = request.getfixturevalue("s3_server")
    settings = S3Settings(endpoint_url=server.endpoint_url, region=server.region,
                          access_key_id=server.access_key_id,
                          secret_access_key=server.secret_access_key)  # fmt: skip
    return open_storage(f"s3://{server.bucket}/labels-{uuid.uuid4().hex[:10]}", s3=settings)


def test_round_trip_and_keys(store):
    cache = LabelCache(store)
    label = PrimitiveLabel(verb="pick up", instruction='Pick up <b>"the"</b> part ü.')
    assert cache.get(MODEL, "v1", "ab12") is None
    key = cache.put(MODEL, "v1", "ab12", label)
    assert key == label_cache_key(MODEL, "v1", "ab12")
    assert key.startswith(LABEL_CACHE_PREFIX + "/") and key.endswith("/ab12.json")
    assert "/" not in key[len(LABEL_CACHE_PREFIX) + 1 : -len("/ab12.json")]
    assert cache.get(MODEL, "v1", "ab12") == label
    assert cache.get(MODEL, "v2", "ab12") is None  # prompt version is part of the key
    assert cache.get("other", "v1", "ab12") is None
    assert [o.key for o in store.list(LABEL_CACHE_PREFIX)] == [key]


def test_rerun_on_the_store_makes_no_request(store, vlm_server, fast_cfg):
    cfg = fast_cfg.model_copy(update={"model": MODEL})
    reqs = [LabelRequest(f"seg{i}", [fake_jpeg(b"%d" % i)]) for i in range(3)]
    first = label_segments(reqs, cfg, api_key=None, cache=LabelCache(store))
    assert [r.status for r in first] == ["ok"] * 3 and len(vlm_server.requests) == 3
    second = label_segments(reqs, cfg, api_key=None, cache=LabelCache(store))
    assert [r.status for r in second] == ["cached"] * 3 and len(vlm_server.requests) == 3


ENTRY = {"model": MODEL, "prompt_version": "v1", "segment_id": "ab12", "verb": "tighten",
         "instruction": "x"}  # fmt: skip


@pytest.mark.parametrize(
    "blob",
    [b"{not json", b"[]", json.dumps({**ENTRY, "verb": ""}).encode(),
     json.dumps({**ENTRY, "model": "other"}).encode(),
     json.dumps({**ENTRY, "segment_id": "cd"}).encode()],
)  # fmt: skip
def test_unusable_entries_are_misses(tmp_path, blob):
    store = open_storage(tmp_path / "root")
    store.write_bytes(label_cache_key(MODEL, "v1", "ab12"), blob)
    assert LabelCache(store).get(MODEL, "v1", "ab12") is None
    store.write_bytes(label_cache_key(MODEL, "v1", "ab12"), json.dumps(ENTRY).encode())
    assert LabelCache(store).get(MODEL, "v1", "ab12").verb == "tighten"  # the same entry, intact


@pytest.mark.parametrize("sid", ["", "a/b", "a.b", "../x", "x" * 129])
def test_segment_ids_that_cannot_name_a_file(sid):
    with pytest.raises(ValueError):
        label_cache_key(MODEL, "v1", sid)
