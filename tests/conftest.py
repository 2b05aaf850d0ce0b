"""Session-wide fixtures: real models are loaded once per test session."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Attention is all you need, said the paper in 2017.",
    "In April, the river flooded the town and the people moved to the hills.",
    "She sells sea shells by the sea shore.",
    "A transformer attends from every query to every key of its sequence.",
    "Paris is the capital of France, and Berlin is the capital of Germany.",
    "Dr. Smith arrived at 3.30 p.m. with 2 dogs.",
    "Why?",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--digits-seed",
        default="0",
        help="train the session's digits ViT from this seed (any seed must pass: another machine trains other weights)",
    )


@pytest.fixture(scope="session")
def sentences() -> list[str]:
    return list(SENTENCES)


@pytest.fixture(scope="session")
def minilm() -> Any:
    """The offline MiniLM (BERT) model, loaded once."""
    from attentionviz.capture import loading

    return loading.load("minilm")


@pytest.fixture(scope="session")
def smollm2() -> Any:
    """The offline SmolLM2 (Llama, GQA) model, loaded once (de-quantised once into the user cache)."""
    from attentionviz.capture import loading

    return loading.load("smollm2")


@pytest.fixture(scope="session")
def text_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("corpus") / "corpus.txt"
    path.write_text(" ".join(SENTENCES) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def image_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five small random RGB images of mixed sizes."""
    import numpy as np
    from PIL import Image

    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for index, size in enumerate([(32, 32), (40, 28), (64, 64), (32, 32), (20, 50)]):
        pixels = rng.integers(0, 255, size=(*size, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"image-{index}.png")
    return folder


@pytest.fixture(scope="session")
def digits_vit_path(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Path:
    """The trained digits ViT (about 20 s), trained once per session into a temporary cache;
    `--digits-seed N` trains another one (its weights differ as another machine's would)."""
    from attentionviz.vision import digits_vit

    seed = int(request.config.getoption("--digits-seed"))
    return digits_vit(tmp_path_factory.mktemp("model-cache"), seed=seed)


@pytest.fixture(scope="session")
def digit_images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of 20 held-out digit PNGs (two of each digit), the digits ViT's input size."""
    from attentionviz.vision import digits_images

    return digits_images(tmp_path_factory.mktemp("digits"), n=20)


@pytest.fixture(scope="session")
def minilm_run(tmp_path_factory: pytest.TempPathFactory, text_file: Path) -> Path:
    """A real run: MiniLM over the test sentences (~300 tokens), PCA and t-SNE in 2D and 3D; built once."""
    import attentionviz as av

    out = tmp_path_factory.mktemp("minilm-run") / "minilm"
    av.build("minilm", text_file, out=out, max_tokens=300, layouts=("pca", "tsne"), dims=(2, 3))
    return out


@pytest.fixture(scope="session")
def digits_run(tmp_path_factory: pytest.TempPathFactory, digits_vit_path: Path, digit_images: Path) -> Path:
    """A real image run: the trained digits ViT over 20 digit PNGs (340 tokens), PCA 2D; built once."""
    import attentionviz as av

    out = tmp_path_factory.mktemp("digits-run") / "digits"
    av.build(digits_vit_path, digit_images, out=out, max_tokens=None, layouts=("pca",), dims=(2,))
    return out
