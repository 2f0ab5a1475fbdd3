import csv
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from models.infer import TokenizerRunner
from models.train import train_tokenizer
from pipeline.tokens.plots import plot_loss
from pipeline.tokens.training_data import load_videos
from tests.models.conftest import FRAME_SIZE, synth_windows, tiny_config, write_tracks
from tests.models.tokenizer_checks import (
    check_codes_carry_motion,
    check_lae_separates,
    collapsed_copy,
)


@pytest.fixture(scope="module")
def trained_twice(tmp_path_factory: pytest.TempPathFactory):
    """Two trainings with one seed (module-scoped: trained once for all tests here)."""
    tmp_path = tmp_path_factory.mktemp("trained_twice")
    cfg = tiny_config(max_epochs=3, steps_per_epoch=None)  # one pass per epoch: cheap
    rng = np.random.default_rng(0)
    files = [
        (
            f"video{v:02d}",
            write_tracks(tmp_path / f"video{v:02d}.npz", synth_windows(rng, 40, cfg, FRAME_SIZE)),
        )
        for v in range(3)
    ]
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(tmp_path)  # anything written relative to the cwd would show up here
        a = train_tokenizer(load_videos(files, cfg), cfg, tmp_path / "run_a")
        b = train_tokenizer(load_videos(files, cfg), cfg, tmp_path / "run_b")
    return cfg, files, a, b, was_deterministic, tmp_path


def test_same_seed_gives_same_version_and_history(trained_twice) -> None:
    _, _, a, b, _, _ = trained_twice
    assert a.tokenizer_version == b.tokenizer_version
    assert a.history == b.history


def test_artifacts_and_history(trained_twice, tmp_path: Path) -> None:
    cfg, _, a, _, was_deterministic, cwd = trained_twice
    assert torch.are_deterministic_algorithms_enabled() == was_deterministic
    assert not (cwd / "lightning_logs").exists()
    assert (cwd / "run_a" / "lightning_logs").is_dir()
    assert a.checkpoint_path.is_file()
    assert plot_loss(a.history, tmp_path / "loss.png").stat().st_size > 0
    assert [r["epoch"] for r in a.history] == [0.0, 1.0, 2.0]
    assert all(math.isfinite(r["train_loss"]) and math.isfinite(r["val_loss"]) for r in a.history)
    assert a.history[-1]["train_loss"] < a.history[0]["train_loss"]
    with a.loss_csv_path.open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 and float(rows[2]["val_loss"]) == pytest.approx(a.history[2]["val_loss"])
    runner = TokenizerRunner(a.checkpoint_path, expected_cfg=cfg)
    assert runner.tokenizer_version == a.tokenizer_version
    meta = runner.metadata
    assert set(meta["training_videos"]).isdisjoint(meta["validation_videos"])
    assert len(meta["history"]) == 3


def test_different_seed_gives_different_version(trained_twice, tmp_path: Path) -> None:
    cfg, files, a, _, _, _ = trained_twice
    c = train_tokenizer(
        load_videos(files, cfg), cfg.model_copy(update={"seed": 1}), tmp_path / "run_c"
    )
    assert c.tokenizer_version != a.tokenizer_version


def test_trained_codes_follow_motion(trained_tokenizer, check_windows) -> None:
    """Trained codes carry the motion: the decoder needs them for moving points (shuffling them
    between windows raises the loss >= 1.5x; measured 6.8x), LAE ranks moving windows above
    still ones, and identical still windows share one code sequence that moving windows leave.

    Before (3 epochs, only "moving windows' codes differ from the idle codes"): an untrained model
    passed (random weights scored 0.96-1.0 against the 0.9 floor); see the bite test below.
    """
    vel, idle = check_windows["velocities"], check_windows["gated"]
    assert idle.any() and (~idle).any()
    check_codes_carry_motion(trained_tokenizer, vel, check_windows["frame_size"])
    with torch.no_grad():
        enc = trained_tokenizer.encode(torch.from_numpy(vel))
    check_lae_separates(enc.z_q.numpy(), ~idle)
    codes = enc.codes.numpy()  # (W, S)
    idle_codes = codes[idle]  # (I, S): identical zero inputs -> identical codes
    assert (idle_codes == idle_codes[0]).all()
    moving_differs = (codes[~idle] != idle_codes[0]).any(axis=1)  # (M,)
    assert moving_differs.mean() > 0.9


@pytest.mark.parametrize("kind", ["untrained", "collapsed"])
@pytest.mark.parametrize("check", ["codes_carry_motion", "lae_separates"])
def test_motion_checks_fail_on_untrained_and_collapsed_models(
    kind: str, check: str, trained_tokenizer, untrained_tokenizer, check_windows
) -> None:
    """The bite of the test above, measured on the same windows: untrained (random weights)
    shuffle ratio 1.01, accuracy 0.03, LAE AUC 0.73; collapsed (trained, FSQ input zeroed)
    ratio 1.00, LAE 0 everywhere (AUC 0.50)."""
    model = untrained_tokenizer if kind == "untrained" else collapsed_copy(trained_tokenizer)
    vel, moving = check_windows["velocities"], ~check_windows["gated"]
    with pytest.raises(AssertionError):
        if check == "codes_carry_motion":
            check_codes_carry_motion(model, vel, check_windows["frame_size"])
        else:
            with torch.no_grad():
                z_q = model.encode(torch.from_numpy(vel)).z_q.numpy()
            check_lae_separates(z_q, moving)
