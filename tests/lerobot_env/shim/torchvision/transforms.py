"""``transforms.ToTensor``, the one transform lerobot's dataset utilities call."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ["ToTensor"]


class ToTensor:
    """PIL image or (H, W[, C]) array -> (C, H, W) tensor; uint8 scaled to float32 in [0, 1]."""

    def __call__(self, pic: Any) -> torch.Tensor:
        array = np.asarray(pic)
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3:
            raise ValueError(f"ToTensor expects an (H, W) or (H, W, C) image, got {array.shape}")
        tensor = torch.from_numpy(np.ascontiguousarray(array.transpose(2, 0, 1)))
        if tensor.dtype == torch.uint8:
            return tensor.to(torch.float32) / 255.0
        return tensor

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def __getattr__(name: str) -> Any:
    raise AttributeError(
        f"torchvision stand-in: transforms.{name} is not provided (only ToTensor); "
        "install a real torchvision to use image augmentations"
    )
