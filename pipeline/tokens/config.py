"""The tokenizer's section of the pipeline config: every ``models.TokenizerConfig`` field except
the window length and grid, which always come from the tracking ``WindowConfig`` (one
convention for training and inference), plus how training and inference run.

The model fields are derived from ``TokenizerConfig`` itself (names, types, defaults,
descriptions), so a new model field is settable from ``laps segment --config`` and the Dagster
run config without being typed again anywhere.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, create_model

from models.config import FrozenConfig
from models.tokenizer import TokenizerConfig
from pipeline.config import WindowConfig

FROM_WINDOWS = ("window_frames", "grid_size")  # set from WindowConfig, never by hand
# how training and inference run, not what they compute: never part of the model's fingerprint
RUNTIME_FIELDS = ("max_train_seconds", "inference_batch_size", "device", "retrain")

_model_fields: dict[str, Any] = {
    name: (info.annotation, info)
    for name, info in TokenizerConfig.model_fields.items()
    if name not in FROM_WINDOWS
}

TokenizerSection = create_model(  # type: ignore[call-overload]
    "TokenizerSection",
    __base__=FrozenConfig,
    __doc__="Tokenizer model and training settings (``models.TokenizerConfig`` fields except "
    "window_frames and grid_size) and how training and inference run.",
    max_train_seconds=(
        float | None,
        Field(None, gt=0, description="training time budget in seconds; None = no limit"),
    ),
    inference_batch_size=(int, Field(256, ge=1, description="windows per inference batch")),
    retrain=(
        Literal["new_stations", "new_files"],
        Field(
            "new_stations",
            description="when stored tracks changed since the current tokenizer was trained: "
            "new_stations = retrain only when a station it was not trained on appears (new "
            "partitions of known stations reuse it); new_files = retrain on any new track "
            "file. A changed config or --force always retrains",
        ),
    ),
    device=(
        Literal["auto", "cpu", "cuda"],
        Field(
            "auto",
            description="where training and inference run: auto = CUDA when present, else CPU",
        ),
    ),
    **_model_fields,
)


def tokenizer_config(
    windows: WindowConfig, section: Any = None, **overrides: Any
) -> TokenizerConfig:
    """The ``TokenizerConfig`` that matches the windowing: window length and grid from
    ``windows``, every other field from ``section`` (a ``TokenizerSection``; defaults if None)
    and then ``overrides``."""
    values = section.model_dump() if section is not None else {}
    for name in RUNTIME_FIELDS:
        values.pop(name, None)
    values.update(overrides)
    return TokenizerConfig(
        window_frames=windows.window_frames, grid_size=windows.grid_size, **values
    )
