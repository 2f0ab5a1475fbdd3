"""A stand-in for ``torchvision``, only for reading LeRobot datasets in ``.venv-lerobot``.

Why it exists: lerobot 0.4.4 imports ``torchvision`` at module level, but the only torchvision
wheel on PyPI for torch 2.13.0 is built against CUDA torch and fails to import next to the CPU
wheel, and there is no source distribution to build. ``LeRobotDataset`` with its default video
backend (torchcodec) uses exactly one torchvision name, ``transforms.ToTensor``, and only for
``image`` features (this project exports ``video`` features). Everything else here refuses with
a message instead of pretending: the pyav/video_reader decoding backends and
``transforms.v2`` (training-time augmentations, ``lerobot.datasets.transforms``) are absent.

``tests/lerobot_env/make-env.sh`` puts the folder above this package on the env's path (a ``.pth``
file) only when a real ``import torchvision`` fails; a real torchvision always wins.
"""

from __future__ import annotations

from torchvision import io, transforms

__version__ = "0.0.0+laps.shim"
__all__ = ["get_video_backend", "io", "set_video_backend", "transforms"]

_BACKEND = "none"


def set_video_backend(backend: str) -> None:
    """torchvision's decoders are not available: ask for torchcodec instead."""
    raise RuntimeError(
        f"torchvision stand-in: video backend {backend!r} is unavailable here; "
        "load datasets with video_backend='torchcodec' (LeRobotDataset's default)"
    )


def get_video_backend() -> str:
    return _BACKEND
