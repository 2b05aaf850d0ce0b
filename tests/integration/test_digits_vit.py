"""The offline vision model: a ViT trained on scikit-learn's digits, cached, loadable like any hub ViT."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from attentionviz.corpus import open_corpus
from attentionviz.errors import AttentionVizError
from attentionviz.vision import digits, digits_images, digits_vit, training_report


def test_the_trained_model_classifies_held_out_digits(
    digits_vit_path: Path, request: pytest.FixtureRequest
) -> None:
    report = training_report(digits_vit_path)
    assert report["accuracy"] >= 0.90, report
    assert report["n_test"] == 360 and report["n_train"] == 1437
    assert report["recipe"]["seed"] == int(request.config.getoption("--digits-seed"))


def test_the_folder_loads_as_a_hugging_face_vit(digits_vit_path: Path, digit_images: Path) -> None:
    import torch
    from PIL import Image
    from transformers import AutoImageProcessor, AutoModel, AutoModelForImageClassification

    model = AutoModel.from_pretrained(digits_vit_path)
    assert type(model).__name__ == "ViTModel"
    assert (model.config.num_hidden_layers, model.config.num_attention_heads) == (4, 4)
    processor = AutoImageProcessor.from_pretrained(digits_vit_path)
    paths = sorted(digit_images.glob("digit-*.png"))
    images = [Image.open(p) for p in paths]
    pixels = processor(images=images, return_tensors="pt")["pixel_values"]  # [20, 3, 16, 16]
    assert tuple(pixels.shape) == (20, 3, 16, 16)
    with torch.no_grad():
        hidden = model(pixel_values=pixels).last_hidden_state
    assert tuple(hidden.shape) == (20, 17, 64), "16 patches of 4x4 pixels plus CLS"

    classifier = AutoModelForImageClassification.from_pretrained(digits_vit_path).eval()
    with torch.no_grad():
        predicted = classifier(pixel_values=pixels).logits.argmax(-1).tolist()
    labels = [int(p.name.split("-")[1]) for p in paths]
    assert np.mean(np.array(predicted) == np.array(labels)) >= 0.8, (predicted, labels)


def test_a_digit_png_reaches_the_model_exactly_as_in_training(
    digits_vit_path: Path, digit_images: Path
) -> None:
    from PIL import Image
    from transformers import AutoImageProcessor

    processor = AutoImageProcessor.from_pretrained(digits_vit_path)
    path = sorted(digit_images.glob("digit-*.png"))[0]
    index = int(path.stem.split("-")[2])
    from sklearn.datasets import load_digits

    expected = (
        np.asarray(digits.render(load_digits().images[index]), dtype=np.float32) / 255 * 2 - 1
    )  # [16, 16]
    got = processor(images=[Image.open(path)], return_tensors="np")["pixel_values"][0]  # [3, 16, 16]
    np.testing.assert_allclose(got, np.broadcast_to(expected, got.shape), atol=1e-6)


def test_a_second_call_uses_the_cache(
    digits_vit_path: Path, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    def no_training(*args: object, **kwargs: object) -> None:
        raise AssertionError("retrained although the model was cached")

    monkeypatch.setattr(digits, "_train", no_training)
    seed = int(request.config.getoption("--digits-seed"))
    assert digits_vit(digits_vit_path.parent, seed=seed) == digits_vit_path


def test_the_cache_root_follows_attentionviz_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ATTENTIONVIZ_CACHE", str(tmp_path))
    assert digits.default_cache_dir() == tmp_path / "models"


def test_an_interrupted_training_leaves_no_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(folder: Path, *args: object, **kwargs: object) -> None:
        (folder / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(digits, "_train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        digits_vit(tmp_path)
    assert list(tmp_path.iterdir()) == [], "nothing half-trained is left behind"


def test_digit_images_are_held_out_balanced_and_deterministic(digit_images: Path, tmp_path: Path) -> None:
    names = sorted(p.name for p in digit_images.iterdir())
    assert len(names) == 20
    assert sorted(int(n.split("-")[1]) for n in names) == sorted(list(range(10)) * 2)
    again = digits_images(tmp_path / "again", n=20)
    assert sorted(p.name for p in again.iterdir()) == names
    assert all((again / n).read_bytes() == (digit_images / n).read_bytes() for n in names)
    _, _, test = digits._dataset(digits.RECIPE)
    assert {int(n.split("-")[2].removesuffix(".png")) for n in names} <= set(test.tolist()), (
        "never trained on"
    )
    fewer = digits_images(tmp_path / "again", n=5)
    assert len(list(fewer.iterdir())) == 5, "images of an earlier, larger call are removed"
    corpus = open_corpus(digit_images)
    assert corpus.kind == "image" and len(list(corpus)) == 20
    with pytest.raises(AttentionVizError, match="between 1 and 360"):
        digits_images(tmp_path / "none", n=0)
