"""The attention the API serves for a sequence is the model's own eager attention (1e-4),
for a text model (MiniLM) and a vision transformer (the trained digits ViT)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from attentionviz.hosts.server import create_app
from attentionviz.readmodel.frames import decode
from attentionviz.store.reader import Run
from tests.integration.test_capture_fidelity import TOLERANCE, eager_attentions


def served_attention(client: TestClient, run_id: str, layer: int, head: int, seq: int) -> np.ndarray:
    response = client.get(f"/api/runs/{run_id}/layers.{layer}.heads.{head}/attention/{seq}")
    assert response.status_code == 200, response.text
    return decode(response.content)[1]["attention"]


def assert_served_equals_model(run: Run, reference_of: Any, sequences: list[int]) -> None:
    client = TestClient(create_app([run.path], static_dir=None))
    run_id = run.path.name
    for seq in sequences:
        reference = reference_of(seq)
        _, length = run.sequence_bounds(seq)
        assert reference[0].shape[-1] == length
        for layer in range(run.info.layers):
            for head in range(0, run.info.heads, 3 if run.info.heads > 4 else 1):
                got = served_attention(client, run_id, layer, head, seq)
                expected = reference[layer][0, head].numpy()
                np.testing.assert_allclose(got, expected, atol=TOLERANCE, err_msg=f"L{layer}H{head} {seq}")
                np.testing.assert_array_equal(got, run.head(layer, head).attention(seq))


def test_served_attention_equals_minilm_eager_attention(minilm: Any, minilm_run: Path) -> None:
    run = Run(minilm_run)
    texts = list(run.sequences["text"])
    assert_served_equals_model(
        run,
        lambda s: eager_attentions(minilm.model, minilm.tokenizer(texts[s], return_tensors="pt").data),
        [0, 1, 2],
    )


def test_served_attention_equals_digits_vit_eager_attention(
    digits_vit_path: Path, digit_images: Path, digits_run: Path
) -> None:
    from PIL import Image
    from transformers import AutoImageProcessor, AutoModel

    model = AutoModel.from_pretrained(digits_vit_path).eval()
    processor = AutoImageProcessor.from_pretrained(digits_vit_path)
    run = Run(digits_run)
    assert run.manifest.image_grid == (4, 4)
    sources = list(run.sequences["text"])

    def reference_of(seq: int) -> Any:
        with Image.open(digit_images / sources[seq]) as image:
            pixels = processor(images=[image.convert("RGB")], return_tensors="pt")["pixel_values"]
        return eager_attentions(model, {"pixel_values": pixels})

    assert_served_equals_model(run, reference_of, [0, 7, 19])
    client = TestClient(create_app([run.path], static_dir=None))
    png = client.get(f"/api/runs/{run.path.name}/images/7.png")
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("head", [0, 3])
def test_aggregate_of_an_image_run_averages_all_images(digits_run: Path, head: int) -> None:
    run = Run(digits_run)
    client = TestClient(create_app([run.path], static_dir=None))
    response = client.get(f"/api/runs/{run.path.name}/layers.2.heads.{head}/aggregate")
    _, arrays = decode(response.content)
    stacked = np.stack([run.head(2, head).attention(s) for s in range(run.info.n_sequences)])
    np.testing.assert_allclose(arrays["attention"], stacked.mean(axis=0), atol=1e-6)
    np.testing.assert_allclose(arrays["attention"].sum(axis=1), 1.0, atol=1e-4)


def test_patch_atlas_holds_each_tokens_patch(digits_run: Path) -> None:
    import io

    from PIL import Image

    run = Run(digits_run)
    client = TestClient(create_app([run.path], static_dir=None))
    response = client.get(f"/api/runs/{run.path.name}/patches.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    atlas = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"), dtype=np.int16)
    columns = atlas.shape[1] // 16
    tokens = run.tokens
    assert columns * (atlas.shape[0] // 16) >= len(tokens)
    t = int(
        np.flatnonzero((tokens["sequence"] == 3) & (tokens["patch_row"] == 1) & (tokens["patch_col"] == 2))[0]
    )
    tile = atlas[(t // columns) * 16 : (t // columns + 1) * 16, (t % columns) * 16 : (t % columns + 1) * 16]
    image = np.asarray(
        Image.open(run.path / "images" / "3.png").convert("RGB"), dtype=np.int16
    )  # [16, 16, 3]
    patch = image[4:8, 8:12]  # the digits ViT sees 16 x 16 pixels in 4 x 4 patches
    np.testing.assert_array_equal(tile[::4, ::4], patch)
    assert client.get("/api/runs/nothing/patches.png").status_code == 404
