"""Where the tokenizer runs (``device: auto | cpu | cuda``): resolution, the CPU path unchanged,
the choice outside the fingerprint, shown in the stage summaries; a GPU training + inference
test that runs only where CUDA is present (skipped, and reported as skipped, elsewhere)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from models.checkpoint import load_checkpoint, save_checkpoint
from models.device import autocast_dtype, device_name, resolve_device, training_precision
from models.infer import TokenizerRunner
from models.tokenizer import MotionTokenizer, sanitize_velocities
from models.train import train_tokenizer
from pipeline.errors import ConfigError, LapsError
from pipeline.io.storage import open_storage
from pipeline.stages import PipelineConfig
from pipeline.tokens.stage import (
    CURRENT_KEY,
    codes_stage,
    run_device,
    tokenizer_stage,
)
from pipeline.tokens.training_data import load_videos
from tests.models.conftest import tiny_config

HAS_CUDA = torch.cuda.is_available()


@pytest.fixture
def no_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """As on a machine without CUDA, even where there is one."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def _checkpoint(path: Path, seed: int = 3, **overrides: object) -> Path:
    torch.manual_seed(seed)
    cfg = tiny_config(**overrides)
    save_checkpoint(path, MotionTokenizer(cfg), cfg, {"note": "seeded random weights"})
    return path


def _velocities(cfg, n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, cfg.steps, cfg.num_points, 2)) * 0.2).astype(np.float32)


def test_cpu_is_cpu_and_names_show_the_index() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert device_name(torch.device("cpu")) == "cpu"
    assert device_name(torch.device("cuda")) == "cuda:0"
    assert device_name(torch.device("cuda", 1)) == "cuda:1"
    assert training_precision(torch.device("cpu")) == "32-true"
    assert autocast_dtype(torch.device("cpu")) is None


def test_auto_without_cuda_falls_back_to_cpu_with_an_info_line(
    no_cuda, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="models.device"):
        assert resolve_device("auto") == torch.device("cpu")
    assert [r.levelno for r in caplog.records] == [logging.INFO]
    assert "no CUDA device" in caplog.records[0].getMessage()


def test_cuda_without_cuda_is_a_value_error_in_models_and_a_config_error_in_pipeline(
    no_cuda, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match="'cuda' was asked for but torch sees no CUDA device"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="device must be one of auto, cpu, cuda; got 'tpu'"):
        resolve_device("tpu")
    with pytest.raises(ConfigError, match=r"^tokenizer\.device: device 'cuda' was asked for"):
        run_device("cuda")
    ckpt = _checkpoint(tmp_path / "t.pt")
    with pytest.raises(ValueError, match="no CUDA device"):
        TokenizerRunner(ckpt, device="cuda")


def test_cpu_codes_are_those_of_the_plain_encoder(no_cuda, tmp_path: Path) -> None:
    """Regression: on CPU (asked for, or ``auto`` without CUDA) the runner's codes and latents
    are bit for bit those of the loop it ran before devices existed (model.encode per batch in
    inference mode, no autocast)."""
    ckpt = _checkpoint(tmp_path / "t.pt")
    model, cfg, _ = load_checkpoint(ckpt)
    vel = _velocities(cfg, 70)
    ref_codes, ref_zq, ref_zpre = [], [], []
    x = torch.from_numpy(sanitize_velocities(vel, "test"))
    with torch.inference_mode():
        for start in range(0, len(x), 16):
            out = model.encode(x[start : start + 16])
            ref_codes.append(out.codes.to(torch.int16).numpy())
            ref_zq.append(out.z_q.numpy())
            ref_zpre.append(out.z_pre.numpy())
    assert len(np.unique(np.concatenate(ref_codes))) > 5  # not a degenerate comparison
    for device in ("cpu", "auto"):
        runner = TokenizerRunner(ckpt, batch_size=16, device=device)
        assert runner.device_name == "cpu" and runner.autocast_dtype is None
        got = runner.encode(vel)
        assert got.codes.dtype == np.int16 and got.z_pre.dtype == np.float32
        np.testing.assert_array_equal(got.codes, np.concatenate(ref_codes))
        np.testing.assert_array_equal(got.z_q, np.concatenate(ref_zq))
        np.testing.assert_array_equal(got.z_pre, np.concatenate(ref_zpre))


def test_device_is_runtime_only_never_in_the_fingerprint() -> None:
    prints = {
        PipelineConfig(tokenizer={"device": d}).tokenizer_config().fingerprint()
        for d in ("auto", "cpu", "cuda")
    }
    assert len(prints) == 1
    assert PipelineConfig().tokenizer.device == "auto"
    # a model field does change it (the comparison above can fail)
    assert PipelineConfig(tokenizer={"d_model": 64}).tokenizer_config().fingerprint() not in prints
    with pytest.raises(ValidationError, match="device"):
        PipelineConfig(tokenizer={"device": "gpu"})


def test_stage_summaries_show_the_resolved_device(no_cuda, tmp_path: Path) -> None:
    store = open_storage(tmp_path / "store")
    ckpt = _checkpoint(tmp_path / "t.pt")
    cfg = load_checkpoint(ckpt)[1]
    # cuda asked for without one: a config error before anything is written
    with pytest.raises(ConfigError):
        tokenizer_stage(store, cfg, checkpoint=ckpt, device="cuda")
    assert not store.exists(CURRENT_KEY)
    tok = tokenizer_stage(store, cfg, checkpoint=ckpt, device="auto")
    assert tok.extra["device"] == "cpu"
    codes = codes_stage(store, "2026-04-02", "st1", cfg, device="cpu")
    assert codes.extra["device"] == "cpu" and codes.rows == {"codes": 0}
    with pytest.raises(LapsError, match="tokenizer.device"):
        codes_stage(store, "2026-04-02", "st1", cfg, device="cuda")


def test_training_on_auto_without_cuda_is_the_cpu_run(
    no_cuda, make_track_files, tmp_path: Path
) -> None:
    cfg = tiny_config(max_epochs=1)
    files = make_track_files(cfg, videos=3, windows=24)
    a = train_tokenizer(load_videos(files, cfg), cfg, tmp_path / "a", device="auto")
    b = train_tokenizer(load_videos(files, cfg), cfg, tmp_path / "b", device="cpu")
    assert a.tokenizer_version == b.tokenizer_version
    meta = load_checkpoint(a.checkpoint_path)[2]
    assert meta["device"] == "cpu" and meta["precision"] == "32-true"
    with pytest.raises(ValueError, match="no CUDA device"):
        train_tokenizer(load_videos(files, cfg), cfg, tmp_path / "c", device="cuda")
    assert not (tmp_path / "c").exists()  # refused before any work


def test_model_assets_run_in_the_gpu_pool() -> None:
    from assets import tokenizer

    for asset in (tokenizer.motion_tokenizer, tokenizer.latent_codes):
        assert asset.op.pool == "gpu", asset.key


@pytest.mark.gpu
@pytest.mark.skipif(not HAS_CUDA, reason="no CUDA device: the GPU training/inference test")
def test_gpu_training_and_inference(make_track_files, tmp_path: Path) -> None:
    """A short training on CUDA (mixed precision), then inference on CUDA (autocast) against the
    CPU path of the same checkpoint."""
    cfg = tiny_config(max_epochs=3)
    files = make_track_files(cfg, videos=3, windows=40)
    result = train_tokenizer(load_videos(files, cfg), cfg, tmp_path / "gpu", device="cuda")
    meta = load_checkpoint(result.checkpoint_path)[2]
    assert meta["device"] == "cuda:0"
    assert meta["precision"] in ("bf16-mixed", "16-mixed")
    assert result.history[-1]["train_loss"] < result.history[0]["train_loss"]
    gpu = TokenizerRunner(result.checkpoint_path, batch_size=32, device="cuda")
    cpu = TokenizerRunner(result.checkpoint_path, batch_size=32, device="cpu")
    assert gpu.device_name == "cuda:0" and gpu.autocast_dtype is not None
    assert next(gpu.model.parameters()).device.type == "cuda"
    vel = _velocities(cfg, 200, seed=5) * 0.1
    g, c = gpu.encode(vel), cpu.encode(vel)
    assert g.codes.dtype == np.int16 and g.z_pre.dtype == np.float32
    assert isinstance(g.codes, np.ndarray) and g.codes.shape == c.codes.shape
    assert np.all((g.codes >= 0) & (g.codes < cfg.codebook_size))
    # mixed precision may move a latent across a rounding boundary, rarely
    assert float(np.mean(g.codes == c.codes)) >= 0.9
    np.testing.assert_allclose(g.z_pre, c.z_pre, atol=0.1)
    # same device, same input: identical codes
    np.testing.assert_array_equal(gpu.encode(vel).codes, g.codes)


def test_bench_on_cuda_without_cuda_is_one_line_before_any_work(no_cuda, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from pipeline.cli.main import main

    work = tmp_path / "bench"
    result = CliRunner().invoke(
        main, ["bench", "--device", "cuda", "--no-append", "--workdir", str(work)]
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "tokenizer.device" in lines[0] and "no CUDA device" in lines[0]
    assert not work.exists()  # nothing rendered
