from pathlib import Path

import numpy as np
import pytest
import torch

from models.checkpoint import (
    CheckpointError,
    CheckpointMismatchError,
    load_checkpoint,
    save_checkpoint,
    tokenizer_version,
)
from models.infer import TokenizerRunner
from models.tokenizer import MotionTokenizer


@pytest.fixture
def saved(tiny_cfg, tmp_path: Path):
    cfg = tiny_cfg()
    torch.manual_seed(3)
    model = MotionTokenizer(cfg).eval()
    path = tmp_path / "ckpt" / "tokenizer.pt"
    version = save_checkpoint(path, model, cfg, {"training_videos": ["a"], "where": tmp_path})
    return cfg, model, path, version


def test_round_trip_gives_identical_outputs(saved, tmp_path: Path) -> None:
    cfg, model, path, version = saved
    assert [p.name for p in path.parent.iterdir()] == ["tokenizer.pt"]  # no temp files left
    loaded, cfg2, meta = load_checkpoint(path, expected_cfg=cfg)
    assert cfg2 == cfg and not loaded.training
    assert meta["tokenizer_version"] == version == tokenizer_version(loaded, cfg)
    assert meta["training_videos"] == ["a"] and meta["where"] == str(tmp_path)
    vel = torch.randn(4, cfg.steps, cfg.num_points, 2) * 0.05
    with torch.no_grad():
        a, b = model.encode(vel), loaded.encode(vel)
        assert torch.equal(model(vel), loaded(vel))
    assert torch.equal(a.codes, b.codes) and torch.equal(a.z_pre, b.z_pre)


def test_version_depends_on_weights_and_config(saved, tiny_cfg) -> None:
    cfg, model, _, version = saved
    assert tokenizer_version(model, cfg) == version
    assert tokenizer_version(model, tiny_cfg(lr=1e-2)) != version
    with torch.no_grad():
        model.head.bias[0] += 1e-6
    assert tokenizer_version(model, cfg) != version


def test_mismatched_config_is_refused(saved, tiny_cfg) -> None:
    _, _, path, _ = saved
    with pytest.raises(CheckpointMismatchError) as err:
        load_checkpoint(path, expected_cfg=tiny_cfg(d_model=64, radius=4))
    assert set(err.value.differences) == {"d_model", "radius"}
    assert err.value.differences["d_model"] == (32, 64)


def test_tampered_weights_are_refused(saved) -> None:
    _, _, path, _ = saved
    payload = torch.load(path, weights_only=True)
    payload["state_dict"]["head.bias"][0] += 1.0
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="weights hash"):
        load_checkpoint(path)
    del payload["state_dict"]["head.bias"]
    torch.save(payload, path)
    with pytest.raises(RuntimeError, match="head.bias"):  # strict load_state_dict
        load_checkpoint(path)


def test_runner_is_deterministic_and_typed(saved) -> None:
    cfg, model, path, version = saved
    runner = TokenizerRunner(path, batch_size=3)
    assert runner.tokenizer_version == version and runner.config == cfg
    vel = np.random.default_rng(0).normal(size=(10, cfg.steps, cfg.num_points, 2)) * 0.05
    vel = vel.astype(np.float32)
    a, b = runner.encode(vel), runner.encode(vel.copy())
    assert a.codes.dtype == np.int16 and a.codes.shape == (10, cfg.steps)
    assert a.z_q.dtype == np.float32 and a.z_q.shape == (10, cfg.steps, len(cfg.fsq_levels))
    assert np.array_equal(a.codes, b.codes) and np.array_equal(a.z_pre, b.z_pre)
    assert a.codes.min() >= 0 and a.codes.max() < cfg.codebook_size
    with torch.no_grad():
        ref = model.encode(torch.from_numpy(vel))
    assert np.array_equal(a.codes, ref.codes.numpy().astype(np.int16))
    assert np.allclose(a.z_q, ref.z_q.numpy(), atol=1e-6)
    half = runner.encode(vel.astype(np.float16))
    assert half.codes.shape == a.codes.shape
    assert runner.encode(vel[:0]).codes.shape == (0, cfg.steps)
    with pytest.raises(ValueError, match="velocities must be"):
        runner.encode(vel[:, :-1])


def test_a_file_saved_before_a_config_field_existed_loads_with_its_version(saved) -> None:
    """Files written before ``steps_per_epoch`` & co. existed store a config without them; the
    version is checked against the config as stored, so such files still load (with the new
    fields at their defaults) and keep their version."""
    import hashlib
    import json

    cfg, model, path, _ = saved
    payload = torch.load(path, weights_only=True)
    added = ("steps_per_epoch", "early_stop_patience", "early_stop_min_delta")
    old_config = {k: v for k, v in payload["config"].items() if k not in added}
    assert old_config != payload["config"]  # the fields this test is about still exist
    fp = hashlib.sha256(json.dumps(old_config, sort_keys=True).encode()).hexdigest()[:12]
    old_version = tokenizer_version(model, cfg, config_fingerprint=fp)
    payload.update(config=old_config, tokenizer_version=old_version)
    torch.save(payload, path)
    _, loaded_cfg, meta = load_checkpoint(path)
    assert meta["tokenizer_version"] == old_version
    assert loaded_cfg == cfg  # the missing fields take their defaults
    payload["state_dict"]["head.bias"] += 1.0  # and tampering is still caught
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="weights hash"):
        load_checkpoint(path)
