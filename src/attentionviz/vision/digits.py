"""A real, trained vision transformer that needs no download: a small ViT on scikit-learn's digits.

No trained ViT weights can be fetched offline, so attentionviz trains one on the handwritten
digits that ship inside scikit-learn (1,797 images of 8x8 pixels): 16x16 input, 4x4 patches of
4 px (16 patch tokens + CLS), 4 layers x 4 heads, hidden size 64. Training is seeded and runs
on one CPU thread (deterministic whatever the machine; small matrices gain nothing from more),
about 20 s, and reaches ≈97% test accuracy. The result is cached as a Hugging Face folder:

    path = digits_vit()                      # trains once, then returns the cached folder
    AutoModel.from_pretrained(path)          # ViTModel (the classifier head is also stored)
    AutoImageProcessor.from_pretrained(path) # ViTImageProcessor for digit PNGs
    digits_images("digits", n=64)            # held-out digit PNGs for image runs

Digit images are rendered as 16x16 greyscale PNGs (8x8 scaled up bilinearly), exactly the
model's input size, and training feeds these same PNG images through the saved image processor,
so a PNG from `digits_images` reaches the model exactly as the training images did.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from attentionviz.errors import AttentionVizError
from attentionviz.store.atomic import read_json, write_bytes, write_json

logger = logging.getLogger(__name__)

ALIAS = "digits-vit"  # the name the CLI and `attentionviz.build` may accept for this model
REPORT = "training.json"  # test accuracy and how the model was trained
REQUIRED = ("config.json", "model.safetensors", "preprocessor_config.json", REPORT)


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the trained weights; a change gives a new cache folder."""

    version: int = 1
    image_size: int = 16  # digits are rendered at this size (8x8 scaled up bilinearly)
    patch_size: int = 4  # 4x4 grid of patches
    hidden_size: int = 64
    layers: int = 4
    heads: int = 4
    intermediate_size: int = 128
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 3e-3
    weight_decay: float = 0.05
    warmup_fraction: float = 0.1
    label_smoothing: float = 0.1
    test_fraction: float = 0.2
    seed: int = 0

    @property
    def folder_name(self) -> str:
        return f"digits-vit-v{self.version}" + (f"-seed{self.seed}" if self.seed else "")


RECIPE = Recipe()


def default_cache_dir() -> Path:
    """`$ATTENTIONVIZ_CACHE/models`, else `~/.cache/attentionviz/models`."""
    from attentionviz.cache import cache_root

    return cache_root() / "models"


def digits_vit(
    cache_dir: str | Path | None = None,
    *,
    progress: Callable[[int, int], None] | None = None,
    seed: int = RECIPE.seed,
) -> Path:
    """The trained digits ViT folder, training it first if it is not cached yet.

    `cache_dir` defaults to `default_cache_dir()`. `progress(epochs_done, epochs)` is called after
    each training epoch. Training writes into a temporary folder renamed into place when complete,
    so an interrupted training leaves nothing that looks finished. Another `seed` trains (and
    caches apart) another model of the same recipe: the test suite uses it to check that its
    assertions hold for any trained model, not one training run's weights.
    """
    from attentionviz.cache import made_once

    recipe = dataclasses.replace(RECIPE, seed=seed)
    root = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    target = root / recipe.folder_name
    if _complete(target):
        return target
    logger.info("training the digits ViT once (about 20 s); cached in %s", target)
    made_once(target, _complete, lambda folder: _train(folder, recipe, progress=progress), "digits model")
    report = training_report(target)
    logger.info(
        "digits ViT: test accuracy %.1f%% (%d images) after %.1f s of training",
        100 * report["accuracy"],
        report["n_test"],
        report["seconds"],
    )
    return target


def training_report(path: str | Path) -> dict[str, Any]:
    """The test accuracy and training details stored with a digits ViT folder."""
    report = read_json(Path(path) / REPORT)
    if not isinstance(report, dict):
        raise AttentionVizError(
            f"{Path(path) / REPORT} is damaged; delete {path} to retrain the digits model"
        )
    return report


def digits_images(out_dir: str | Path, *, n: int = 64, seed: int = 0) -> Path:
    """Write `n` held-out digit PNGs (never seen in training) to `out_dir` and return it.

    Files are named `digit-{label}-{index}.png` (index into scikit-learn's digits); the digits
    are drawn in turn (0, 1, ..., 9, 0, ...) in an order fixed by `seed`. Earlier `digit-*.png`
    files in the folder that are not in this set are removed.
    """
    images, labels, test = _dataset(RECIPE)
    if not 1 <= n <= len(test):
        raise AttentionVizError(f"n must be between 1 and {len(test)} (the held-out digits); got {n}")
    rng = np.random.default_rng(seed)
    by_label = [[int(i) for i in rng.permutation(test[labels[test] == label])] for label in range(10)]
    chosen = [row[rank] for rank in range(max(map(len, by_label))) for row in by_label if rank < len(row)][:n]
    folder = Path(out_dir).expanduser()
    names = {f"digit-{labels[i]}-{i:04d}.png": i for i in chosen}
    for stale in folder.glob("digit-*.png"):
        if stale.name not in names:
            stale.unlink()
    for name, index in names.items():
        buffer = io.BytesIO()
        render(images[index]).save(buffer, format="PNG")
        write_bytes(folder / name, buffer.getvalue())
    return folder


def render(image: np.ndarray) -> Any:
    """An 8x8 digit (values 0..16) as a greyscale PIL image of the model's input size."""
    from PIL import Image

    pixels = np.round(np.asarray(image, dtype=np.float64) * (255 / 16)).astype(np.uint8)  # [8, 8]
    size = RECIPE.image_size
    return Image.fromarray(pixels, mode="L").resize((size, size), Image.Resampling.BILINEAR)


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in REQUIRED)


def _dataset(recipe: Recipe) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(images [1797, 8, 8], labels [1797], held-out indices); the rest is the training set."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    _, test = train_test_split(
        np.arange(len(digits.target)),
        test_size=recipe.test_fraction,
        stratify=digits.target,
        random_state=recipe.seed,
    )
    return digits.images, digits.target, np.sort(test)


def _processor(recipe: Recipe) -> Any:
    from transformers import ViTImageProcessorPil  # saved as a plain "ViTImageProcessor"

    return ViTImageProcessorPil(
        size={"height": recipe.image_size, "width": recipe.image_size},
        do_convert_rgb=True,
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
    )


def _train(folder: Path, recipe: Recipe, *, progress: Callable[[int, int], None] | None) -> dict[str, Any]:
    import math

    import torch
    import transformers
    from transformers import ViTConfig, ViTForImageClassification

    from attentionviz.cache import one_thread_seeded

    start = time.perf_counter()
    images, labels, test = _dataset(recipe)
    train = np.setdiff1d(np.arange(len(labels)), test)
    processor = _processor(recipe)

    def pixels(indices: np.ndarray) -> torch.Tensor:  # [n, 3, size, size], as the processor gives them
        batch = [render(images[i]).convert("RGB") for i in indices]
        return torch.as_tensor(processor(images=batch, return_tensors="pt")["pixel_values"])

    x_train, x_test = pixels(train), pixels(test)
    y_train, y_test = torch.as_tensor(labels[train]), torch.as_tensor(labels[test])
    config = ViTConfig(
        image_size=recipe.image_size,
        patch_size=recipe.patch_size,
        num_channels=3,
        hidden_size=recipe.hidden_size,
        num_hidden_layers=recipe.layers,
        num_attention_heads=recipe.heads,
        intermediate_size=recipe.intermediate_size,
        id2label={i: str(i) for i in range(10)},
        label2id={str(i): i for i in range(10)},
    )
    with one_thread_seeded(recipe.seed):
        model: Any = ViTForImageClassification(config)
        optimizer = torch.optim.AdamW(
            model.parameters(), lr=recipe.learning_rate, weight_decay=recipe.weight_decay
        )
        generator = torch.Generator().manual_seed(recipe.seed)
        steps_per_epoch = math.ceil(len(train) / recipe.batch_size)
        total = recipe.epochs * steps_per_epoch
        warmup = max(1, int(recipe.warmup_fraction * total))
        step = 0
        for epoch in range(recipe.epochs):
            model.train()
            order = torch.randperm(len(train), generator=generator)
            for first in range(0, len(train), recipe.batch_size):
                batch = order[first : first + recipe.batch_size]
                if step < warmup:  # linear warm-up, then cosine decay to zero
                    rate = recipe.learning_rate * (step + 1) / warmup
                else:
                    rate = (
                        recipe.learning_rate
                        * 0.5
                        * (1 + math.cos(math.pi * (step - warmup) / (total - warmup)))
                    )
                for group in optimizer.param_groups:
                    group["lr"] = rate
                logits = model(pixel_values=x_train[batch]).logits  # [batch, 10]
                loss: Any = torch.nn.functional.cross_entropy(
                    logits, y_train[batch], label_smoothing=recipe.label_smoothing
                )
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                step += 1
            if progress is not None:
                progress(epoch + 1, recipe.epochs)
        model.eval()
        with torch.no_grad():
            predicted = model(pixel_values=x_test).logits.argmax(-1)  # [n_test]
    accuracy = float((predicted == y_test).float().mean())
    seconds = time.perf_counter() - start
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    report = {
        "accuracy": accuracy,
        "n_train": len(train),
        "n_test": len(test),
        "seconds": round(seconds, 2),
        "recipe": asdict(recipe),
        "dataset": "scikit-learn digits (8x8 handwritten digits, 10 classes)",
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    write_json(folder / REPORT, report)
    return report
