"""Image embedders for ICSS: keyframes -> L2-normalised vectors.

``ClipImageEmbedder`` loads a CLIP model from a local folder (the optional ``clip`` extra:
``transformers``, never a download); ``ColourTextureEmbedder`` is the built-in
**non-semantic** fallback (colour and texture statistics, computed per image), and every report
made with it says so (``NON_SEMANTIC``); ``image_embedder`` picks one.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import cv2
import numpy as np

from pipeline.errors import EmbedderError

log = logging.getLogger(__name__)

NON_SEMANTIC = "non-semantic fallback"


@runtime_checkable
class ImageEmbedder(Protocol):
    """Images -> (n, d) float32, each row of unit L2 norm. ``semantic``: whether similar
    content (not just similar colours) gives similar vectors."""

    name: str
    semantic: bool

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray: ...


def _check_images(images: Sequence[np.ndarray]) -> None:
    for i, img in enumerate(images):
        if not isinstance(img, np.ndarray) or img.dtype != np.uint8 or img.ndim != 3:
            shown = getattr(img, "shape", type(img).__name__), getattr(img, "dtype", None)
            raise EmbedderError(f"image {i}: want RGB uint8 (H, W, 3), got {shown}")
        if img.shape[2] != 3 or min(img.shape[:2]) < 1:
            raise EmbedderError(f"image {i}: want RGB uint8 (H, W, 3), got {img.shape}")


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32)


class ClipImageEmbedder:
    """A CLIP image tower read from a local folder (``save_pretrained`` layout: config.json with
    ``model_type`` "clip", weights, preprocessor_config.json). Eval mode, no gradients,
    ``batch_size`` images at a time on ``device`` (CPU unless told)."""

    semantic = True

    def __init__(self, model: Any, processor: Any, name: str, *, device: str, batch_size: int):
        self.model, self.processor, self.name = model, processor, name
        self.device, self.batch_size = device, batch_size
        self.dim = int(model.config.projection_dim)

    @classmethod
    def from_folder(
        cls, path: str | Path, *, device: str = "cpu", batch_size: int = 32
    ) -> ClipImageEmbedder:
        folder = Path(path)
        _check_clip_folder(folder)
        if batch_size < 1:
            raise EmbedderError(f"batch_size must be at least 1, got {batch_size}")
        try:
            import torch
            import transformers
        except ImportError as err:
            raise EmbedderError(
                f"a CLIP model folder ({folder}) needs transformers: pip install "
                f"'laps-pipeline[clip]' ({err})"
            ) from err
        # transformers 5 names the PIL-based processor apart (the default one needs torchvision)
        processor_cls = getattr(transformers, "CLIPImageProcessorPil", None)
        processor_cls = processor_cls or transformers.CLIPImageProcessor
        try:
            model = transformers.CLIPModel.from_pretrained(folder, local_files_only=True)
            processor = processor_cls.from_pretrained(folder, local_files_only=True)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise EmbedderError(f"{folder}: not a loadable CLIP model ({err})") from err
        model = model.to(torch.device(device)).eval()
        name = f"clip:{folder.resolve().name}"
        log.info("ICSS embedder %s loaded from %s on %s", name, folder, device)
        return cls(model, processor, name, device=device, batch_size=batch_size)

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        import torch

        _check_images(images)
        out = [np.zeros((0, self.dim), np.float32)]
        with torch.no_grad():
            for start in range(0, len(images), self.batch_size):
                batch = [np.ascontiguousarray(im) for im in images[start : start + self.batch_size]]
                pixels = self.processor(images=batch, return_tensors="pt")["pixel_values"]
                feats = self.model.get_image_features(pixel_values=pixels.to(self.device))
                feats = getattr(feats, "pooler_output", feats)  # transformers 5: a model output
                out.append(_unit_rows(feats.float().cpu().numpy()))
        return np.concatenate(out)


def _check_clip_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise EmbedderError(f"CLIP model folder {folder}: no such folder")
    config = folder / "config.json"
    if not config.is_file():
        raise EmbedderError(f"CLIP model folder {folder}: holds no config.json (no model saved)")
    try:
        model_type = json.loads(config.read_text()).get("model_type")
    except (ValueError, AttributeError) as err:
        raise EmbedderError(f"{config}: not a model config ({err})") from err
    if model_type != "clip":
        raise EmbedderError(f"{config}: model_type is {model_type!r}, not a CLIP model ('clip')")


class ColourTextureEmbedder:
    """The built-in **non-semantic** fallback: colour and texture statistics of each image on
    its own (nothing depends on the rest of the batch).

    Per image, shrunk to at most 160 px on its longer side:
    - colour: a joint HSV histogram, 12 hues x 2 saturations x 3 values for coloured pixels
      plus 3 value bins for grey ones (saturation < 64, whose hue means nothing): 75 bins;
    - texture: a gradient-orientation histogram (12 unsigned bins weighted by Sobel
      magnitude) and edge statistics (mean gradient magnitude, mean and spread of |Laplacian|,
      each squashed by tanh; Canny edge density), after a constant 1 so a flat image keeps a
      direction.
    Histograms enter as square roots of their frequencies (unit length: the cosine of two is
    their Bhattacharyya coefficient). The groups are scaled so colour carries half of the
    squared norm and each texture group a quarter. It tells colours and textures apart, not
    actions or objects."""

    name = f"colour-texture-stats ({NON_SEMANTIC})"
    semantic = False
    dim = 75 + 12 + 5
    _weights = (math.sqrt(0.5), math.sqrt(0.25), math.sqrt(0.25))

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        _check_images(images)
        rows = [self._features(img) for img in images]
        return np.stack(rows).astype(np.float32) if rows else np.zeros((0, self.dim), np.float32)

    @classmethod
    def _features(cls, img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        scale = min(1.0, 160 / max(h, w))
        if scale < 1.0:
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            img = cv2.resize(img, size, interpolation=cv2.INTER_AREA)
        img = np.ascontiguousarray(img)
        gray = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32) / 255.0
        gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
        gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
        mag = np.hypot(gx, gy).ravel()
        angle = np.mod(np.arctan2(gy, gx).ravel(), np.pi)
        lap = np.abs(cv2.Laplacian(gray, cv2.CV_32F, ksize=3))
        edges = cv2.Canny((gray * 255).astype(np.uint8), 50, 150)
        stats = np.tanh(4 * np.array([mag.mean(), lap.mean(), lap.std()]))
        groups = [
            _colour_hist(img),
            _sqrt_hist(angle, 12, (0, math.pi), mag),
            np.concatenate([[1.0], stats, [(edges > 0).mean()]]),
        ]
        vec = np.concatenate(
            [wt * g / np.linalg.norm(g) for wt, g in zip(cls._weights, groups, strict=True)]
        )
        return vec / np.linalg.norm(vec)


def _colour_hist(img: np.ndarray) -> np.ndarray:
    """Square roots of the joint HSV histogram's frequencies (75 bins, see above)."""
    hsv = cv2.cvtColor(img, cv2.COLOR_RGB2HSV).reshape(-1, 3).astype(np.int64)  # H 0..179
    hue, sat, val = hsv[:, 0] * 12 // 180, hsv[:, 1], hsv[:, 2] * 3 // 256
    coloured = sat >= 64
    sat_bin = (sat >= 160).astype(np.int64)
    index = np.where(coloured, (hue * 2 + sat_bin) * 3 + val, 72 + val)
    return np.sqrt(np.bincount(index, minlength=75) / len(index))


def _sqrt_hist(x: np.ndarray, bins: int, span: tuple[float, float], weights=None) -> np.ndarray:
    hist, _ = np.histogram(x, bins=bins, range=span, weights=weights)
    total = hist.sum()
    if total <= 0:  # no weight at all (a flat image's gradients)
        return np.full(bins, 1.0 / math.sqrt(bins))
    return np.sqrt(hist / total)


def image_embedder(clip_model_dir: str | None, **kwargs: Any) -> ImageEmbedder:
    """The CLIP embedder of ``clip_model_dir`` (``ClipImageEmbedder.from_folder`` keywords
    pass through), or the non-semantic fallback when none is given."""
    if clip_model_dir is None or not str(clip_model_dir).strip():
        log.info("no CLIP model folder given: ICSS uses the %s", ColourTextureEmbedder.name)
        return ColourTextureEmbedder()
    return ClipImageEmbedder.from_folder(clip_model_dir, **kwargs)
