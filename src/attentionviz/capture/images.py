"""Images -> pixel tensors through the model's own image processor, keeping what the model saw."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from attentionviz.errors import CorpusError


def _as_list(value: Any, channels: int) -> np.ndarray:
    array = np.asarray(value if value is not None else 0.0, dtype=np.float32).reshape(-1)
    return np.broadcast_to(array, (channels,)) if array.size == 1 else array


def load_pixels(processor: Any, paths: list[Path], *, save_as: list[Path] | None = None) -> Any:
    """[B, C, H, W] pixel values for `paths`; optionally save each as the model saw it (un-normalised PNG)."""
    from PIL import Image, UnidentifiedImageError

    from attentionviz.store.atomic import atomic_open

    images = []
    for path in paths:
        try:
            with Image.open(path) as image:
                images.append(image.convert("RGB"))
        except (OSError, UnidentifiedImageError) as exc:
            raise CorpusError(f"image {path} is unreadable ({exc}); remove or replace it") from exc
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]
    if save_as is not None:
        channels = pixels.shape[1]
        mean = _as_list(
            getattr(processor, "image_mean", None) if getattr(processor, "do_normalize", False) else 0.0,
            channels,
        )
        std = _as_list(
            getattr(processor, "image_std", None) if getattr(processor, "do_normalize", False) else 1.0,
            channels,
        )
        scale = (
            float(getattr(processor, "rescale_factor", 1 / 255))
            if getattr(processor, "do_rescale", True)
            else 1.0
        )
        for tensor, target in zip(pixels, save_as, strict=True):
            array = tensor.float().numpy().transpose(1, 2, 0) * std + mean  # [H, W, C], rescaled range
            array = np.clip(array / scale, 0, 255).astype(np.uint8)
            if channels == 1:
                array = array[:, :, 0]
            with atomic_open(target, "wb") as handle:
                Image.fromarray(array).save(handle, format="PNG")
    return pixels
