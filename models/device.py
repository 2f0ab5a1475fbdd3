"""Where the tokenizer runs: ``auto`` (CUDA when present, else CPU), ``cpu`` or ``cuda``.

The choice is resolved once per run (``resolve_device``) and the resolved device is what
training (Lightning accelerator) and inference (batches on the device) use. ``cuda`` without a
usable CUDA device is a ``ValueError`` (``pipeline.tokens`` turns it into a ``ConfigError``);
``auto`` falls back to CPU with an INFO log line.
"""

from __future__ import annotations

import logging
from typing import Literal

import torch

log = logging.getLogger(__name__)

DeviceChoice = Literal["auto", "cpu", "cuda"]
DEVICE_CHOICES: tuple[str, ...] = ("auto", "cpu", "cuda")


def resolve_device(choice: str = "auto") -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` -> the ``torch.device`` to run on (``cuda`` = ``cuda:0``)."""
    if choice not in DEVICE_CHOICES:
        raise ValueError(f"device must be one of {', '.join(DEVICE_CHOICES)}; got {choice!r}")
    if choice == "cpu":
        return torch.device("cpu")
    if torch.cuda.is_available():
        return torch.device("cuda", 0)
    if choice == "cuda":
        raise ValueError(
            "device 'cuda' was asked for but torch sees no CUDA device "
            f"(torch {torch.__version__}, built with CUDA {torch.version.cuda or 'none'}); "
            "use device 'auto' or 'cpu'"
        )
    log.info("device auto: no CUDA device, running on CPU")
    return torch.device("cpu")


def device_name(device: torch.device) -> str:
    """``cpu`` or ``cuda:<index>``: how run metadata shows the device."""
    if device.type == "cuda":
        return f"cuda:{0 if device.index is None else device.index}"
    return device.type


def training_precision(device: torch.device) -> str:
    """Lightning precision: bf16 mixed on CUDA devices that support it, else fp16 mixed; 32 on
    CPU (the CPU path stays bit-for-bit what it was)."""
    if device.type != "cuda":
        return "32-true"
    return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"


def autocast_dtype(device: torch.device) -> torch.dtype | None:
    """The inference autocast dtype on ``device`` (None: no autocast, i.e. on CPU)."""
    if device.type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
