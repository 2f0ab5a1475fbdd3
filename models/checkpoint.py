"""Tokenizer checkpoints: one file with weights, the config that built them, and metadata.

``tokenizer_version`` = first 12 hex of sha256(config fingerprint + every weight's name, dtype,
shape and bytes, in name order): same config and same weights give the same version on any
machine; it is stored in the file and re-checked on load.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from pydantic import ValidationError

from models.tokenizer import MotionTokenizer, TokenizerConfig

log = logging.getLogger(__name__)

FORMAT_VERSION = 1


class CheckpointError(Exception):
    """A checkpoint that cannot be loaded as asked."""


class CheckpointMismatchError(CheckpointError):
    """The stored config differs from the expected one; ``differences`` maps field ->
    (stored, expected)."""

    def __init__(self, path: str | Path, differences: dict[str, tuple[Any, Any]]) -> None:
        self.path = str(path)
        self.differences = differences
        super().__init__(f"{path}: tokenizer config differs from the expected one: {differences}")


def tokenizer_version(
    model: torch.nn.Module, cfg: TokenizerConfig, *, config_fingerprint: str | None = None
) -> str:
    """``config_fingerprint`` (default ``cfg.fingerprint()``) + the weights. A loaded file is
    checked with the fingerprint of its config *as stored*: a file saved before a config field
    was added (and filled with its default on loading) keeps its version."""
    h = hashlib.sha256((config_fingerprint or cfg.fingerprint()).encode())
    state = model.state_dict()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()[:12]


def save_checkpoint(
    path: Path, model: MotionTokenizer, cfg: TokenizerConfig, meta: dict[str, Any]
) -> str:
    """Write atomically (temp file, then rename); returns the tokenizer version."""
    path = Path(path)
    version = tokenizer_version(model, cfg)
    payload = {
        "format_version": FORMAT_VERSION,
        "tokenizer_version": version,
        "config": cfg.model_dump(mode="json"),
        "meta": json.loads(json.dumps(meta, default=str)),  # plain types only
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(payload, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    log.info("saved tokenizer %s to %s", version, path)
    return version


def _config_diff(stored: TokenizerConfig, expected: TokenizerConfig) -> dict[str, tuple[Any, Any]]:
    a, b = stored.model_dump(mode="json"), expected.model_dump(mode="json")
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def load_checkpoint(
    path: Path, expected_cfg: TokenizerConfig | None = None
) -> tuple[MotionTokenizer, TokenizerConfig, dict[str, Any]]:
    """Load strictly; the model comes back in eval mode. ``meta`` gains ``tokenizer_version``."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # torch raises several types for a file that is not a checkpoint
        raise CheckpointError(f"{path}: not a tokenizer checkpoint ({type(e).__name__})") from e
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION:
        got = payload.get("format_version") if isinstance(payload, dict) else type(payload)
        raise CheckpointError(f"{path}: unsupported checkpoint format {got!r}")
    try:
        cfg = TokenizerConfig.model_validate(payload["config"])
    except ValidationError as e:
        raise CheckpointError(f"{path}: stored config is not a valid TokenizerConfig: {e}") from e
    if expected_cfg is not None and expected_cfg != cfg:
        raise CheckpointMismatchError(path, _config_diff(cfg, expected_cfg))
    model = MotionTokenizer(cfg)
    model.load_state_dict(payload["state_dict"], strict=True)
    model.eval()
    stored = json.dumps(payload["config"], sort_keys=True).encode()
    version = tokenizer_version(
        model, cfg, config_fingerprint=hashlib.sha256(stored).hexdigest()[:12]
    )
    if version != payload["tokenizer_version"]:
        raise CheckpointError(
            f"{path}: weights hash to {version}, file says {payload['tokenizer_version']}"
        )
    meta = dict(payload["meta"], tokenizer_version=version)
    return model, cfg, meta
