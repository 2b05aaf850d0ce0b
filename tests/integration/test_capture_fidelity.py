"""The attention a run gives (derived from the stored q and k), through `head.attention` and as the
HTTP API serves it, equals the model's own eager attention (1e-4), for every layer, head and
sequence, for tiny random models of every family, both offline models, and a 2,048-token decoder
sequence."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import attentionviz as av
from attentionviz.hosts.server import create_app
from attentionviz.readmodel.frames import decode
from tests.support.tiny_models import IMAGE_MODELS, TEXT_MODELS

TOLERANCE = 1e-4


def eager_attentions(model: Any, inputs: dict[str, Any]) -> tuple[Any, ...]:
    """The model's own eager attention for one unpadded sequence: per layer [1, H, S, S]."""
    previous = model.config._attn_implementation
    model.set_attn_implementation("eager")
    try:
        with torch.no_grad():
            return model(**inputs, output_attentions=True).attentions
    finally:
        model.set_attn_implementation(previous)


def assert_run_matches_model(run: av.Run, model: Any, inputs_of: Any) -> None:
    """Every head's attention of every sequence, from `head.attention` and from the API."""
    from fastapi.testclient import TestClient

    info = run.info
    client = TestClient(create_app([run.path], static_dir=None))
    checked = 0
    for seq in range(info.n_sequences):
        reference = eager_attentions(model, inputs_of(seq))
        _, length = run.sequence_bounds(seq)
        assert reference[0].shape[-1] == length, "the run's sequence must be the model's sequence"
        for layer in range(info.layers):
            for h in range(info.heads):
                expected = reference[layer][0, h].numpy()
                where = f"L{layer}H{h} seq {seq}"
                np.testing.assert_allclose(
                    run.head(layer, h).attention(seq), expected, atol=TOLERANCE, err_msg=where
                )
                response = client.get(f"/api/runs/{run.path.name}/layers.{layer}.heads.{h}/attention/{seq}")
                served = decode(response.content)[1]["attention"]
                np.testing.assert_allclose(served, expected, atol=TOLERANCE, err_msg=f"served {where}")
                checked += 1
    assert checked == info.n_sequences * info.layers * info.heads


@pytest.mark.parametrize("family", sorted(TEXT_MODELS))
def test_text_family_capture_equals_eager_attention(
    family: str, minilm: Any, sentences: list[str], tmp_path: Path
) -> None:
    model = TEXT_MODELS[family]()
    tokenizer = minilm.tokenizer
    run = av.build(model, sentences, tokenizer=tokenizer, out=tmp_path / "run", max_tokens=None, layouts=())
    assert run.info.n_sequences == len(sentences)
    assert (
        run.info.kv_heads == model.config.num_key_value_heads
        if hasattr(model.config, "num_key_value_heads")
        else True
    )
    texts = list(run.sequences["text"])

    def inputs_of(seq: int) -> dict[str, Any]:
        return {"input_ids": tokenizer(texts[seq], return_tensors="pt")["input_ids"]}

    assert_run_matches_model(run, model, inputs_of)


@pytest.mark.parametrize("family", sorted(IMAGE_MODELS))
def test_image_family_capture_equals_eager_attention(family: str, image_folder: Path, tmp_path: Path) -> None:
    from transformers import ViTImageProcessor

    model = IMAGE_MODELS[family]()
    processor = ViTImageProcessor(size={"height": 32, "width": 32})
    run = av.build(
        model, image_folder, processor=processor, out=tmp_path / "run", max_tokens=None, layouts=()
    )
    grid = run.manifest.image_grid
    assert grid == (4, 4)
    tokens = run.tokens
    patches = tokens[tokens.patch_row >= 0]
    assert len(patches) == run.info.n_sequences * 16
    assert run.info.n_tokens == run.info.n_sequences * (16 + (2 if family == "deit" else 1))
    sources = list(run.sequences["text"])

    def inputs_of(seq: int) -> dict[str, Any]:
        from PIL import Image

        with Image.open(image_folder / sources[seq]) as image:
            return {
                "pixel_values": processor(images=[image.convert("RGB")], return_tensors="pt")["pixel_values"]
            }

    assert_run_matches_model(run, model, inputs_of)
    assert (run.path / "images" / "0.png").exists(), "image runs keep the image as the model saw it"


def test_grouped_query_heads_share_their_kv_group(minilm: Any, sentences: list[str], tmp_path: Path) -> None:
    model = TEXT_MODELS["llama-gqa"]()
    run = av.build(
        model, sentences[:3], tokenizer=minilm.tokenizer, out=tmp_path / "run", max_tokens=None, layouts=()
    )
    assert run.info.kv_map == (0, 0, 1, 1)
    assert run.array("layers.0.k").shape[0] == 2, "one key set per KV head, not per query head"
    np.testing.assert_array_equal(run.head(1, 0).keys(), run.head(1, 1).keys())
    assert not np.array_equal(run.head(1, 1).keys(), run.head(1, 2).keys())


def test_pre_rope_vectors_are_stored_under_their_own_name(
    minilm: Any, sentences: list[str], tmp_path: Path
) -> None:
    model = TEXT_MODELS["llama-gqa"]()
    run = av.build(
        model,
        sentences[:2],
        tokenizer=minilm.tokenizer,
        out=tmp_path / "run",
        max_tokens=None,
        layouts=(),
        pre_rope=True,
    )
    head = run.head(0, 1)
    assert run.info.has_pre_rope
    pre, post = head.queries(pre_rope=True), head.queries()
    start, _ = run.sequence_bounds(0)
    # position 0 has no rotation; later positions are rotated by RoPE, which preserves norms
    np.testing.assert_allclose(pre[start], post[start], atol=1e-5)
    assert not np.allclose(pre[start + 3], post[start + 3], atol=1e-3)
    np.testing.assert_allclose(np.linalg.norm(pre, axis=1), np.linalg.norm(post, axis=1), rtol=1e-4)


@pytest.mark.slow
def test_minilm_capture_equals_eager_attention(minilm: Any, sentences: list[str], tmp_path: Path) -> None:
    run = av.build("minilm", sentences, out=tmp_path / "run", max_tokens=None, layouts=())
    assert (run.info.layers, run.info.heads, run.info.head_dim) == (6, 12, 32)
    texts = list(run.sequences["text"])
    assert_run_matches_model(
        run, minilm.model, lambda s: minilm.tokenizer(texts[s], return_tensors="pt").data
    )


@pytest.mark.slow
def test_smollm2_capture_equals_eager_attention(smollm2: Any, sentences: list[str], tmp_path: Path) -> None:
    run = av.build("smollm2", sentences[:4], out=tmp_path / "run", max_tokens=None, layouts=())
    assert (run.info.layers, run.info.heads, run.info.kv_heads, run.info.head_dim) == (30, 9, 3, 64)
    assert run.info.kv_map == (0, 0, 0, 1, 1, 1, 2, 2, 2)
    texts = list(run.sequences["text"])
    assert_run_matches_model(
        run, smollm2.model, lambda s: smollm2.tokenizer(texts[s], return_tensors="pt").data
    )
