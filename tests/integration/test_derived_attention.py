"""What deriving attention from q and k asks of a build: long decoder sequences (attention computed
a block of query rows at a time, never stored), models whose attention is more than q and k (the
build refuses them), half-precision models (2-byte vectors), and runs of the older schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import attentionviz as av
from attentionviz.capture.pipeline import TOLERANCE, _digest
from attentionviz.errors import ModelError
from attentionviz.hashing import sha256_file
from attentionviz.store import names
from tests.integration.test_capture_fidelity import assert_run_matches_model, eager_attentions
from tests.support.tiny_models import _DECODER, TEXT_MODELS, _text

LONG = 2048
WORDS = [
    "the",
    "river",
    "ran",
    "past",
    "old",
    "towns",
    "and",
    "quiet",
    "hills",
    "while",
    "people",
    "walked",
    "north",
    "in",
    "april",
    "rain",
]


def long_text(tokenizer: Any, n_tokens: int) -> str:
    """A text the tokenizer makes exactly `n_tokens` tokens of (with its special tokens)."""
    words = [WORDS[i % len(WORDS)] for i in range(n_tokens)]
    while len(tokenizer(" ".join(words))["input_ids"]) > n_tokens:
        words.pop()
    assert len(tokenizer(" ".join(words))["input_ids"]) == n_tokens
    return " ".join(words)


@pytest.mark.parametrize(
    "config",
    [("LlamaConfig", {}), ("MistralConfig", {"sliding_window": 300})],
    ids=["llama-gqa", "mistral-sliding"],
)
def test_a_2048_token_decoder_sequence_is_one_sequence_whose_attention_equals_eager(
    config: tuple[str, dict[str, Any]], minilm: Any, tmp_path: Path
) -> None:
    """Its [2048, 2048] attention is computed 128 query rows at a time by the capture, and derived
    from q and k by head.attention and the API; the run holds no array of that size."""
    model = _text(config[0], **{**_DECODER, "max_position_embeddings": 4096, **config[1]})()
    tokenizer = minilm.tokenizer
    text = long_text(tokenizer, LONG)
    run = av.build(
        model,
        [text],
        tokenizer=tokenizer,
        out=tmp_path / "run",
        max_tokens=None,
        layouts=(),
        attention_budget=LONG * 128,
    )
    assert run.info.n_sequences == 1 and run.sequence_bounds(0) == (0, LONG)
    assert_run_matches_model(
        run, model, lambda s: {"input_ids": tokenizer(text, return_tensors="pt")["input_ids"]}
    )
    largest = max(int(np.prod(spec["shape"])) for spec in run.manifest.arrays.values())
    assert largest < LONG * LONG, "nothing stored grows with the square of the sequence"


def _position_bias(
    module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """An ALiBi-like bias added to the mask the layer's attention function gets (the run does not record it)."""
    mask = kwargs.get("attention_mask")
    if mask is not None:
        n = mask.shape[-1]
        distance = (torch.arange(n)[None, :] - torch.arange(n)[:, None]).clamp(max=0).float()
        kwargs["attention_mask"] = mask + 0.5 * distance
    return args, kwargs


def test_a_model_whose_attention_is_more_than_q_and_k_stops_the_build(
    minilm: Any, sentences: list[str], tmp_path: Path
) -> None:
    model = TEXT_MODELS["llama-gqa"]()
    for layer in model.layers:
        layer.self_attn.register_forward_pre_hook(_position_bias, with_kwargs=True)
    with pytest.raises(ModelError) as error:
        av.build(
            model, sentences, tokenizer=minilm.tokenizer, out=tmp_path / "run", max_tokens=None, layouts=()
        )
    message = str(error.value)
    assert "\n" not in message and "layer 0's attention is not softmax(q.k * scaling + mask)" in message
    assert "attentionviz/capture/architectures.py" in message and "a position bias" in message
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.partial").exists(), "nothing written"


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_a_half_precision_model_stores_two_byte_queries_and_keys(
    dtype: torch.dtype, minilm: Any, sentences: list[str], tmp_path: Path
) -> None:
    model = TEXT_MODELS["llama-gqa"]().to(dtype)
    name = str(dtype).removeprefix("torch.")
    run = av.build(
        model, sentences, tokenizer=minilm.tokenizer, out=tmp_path / "run", max_tokens=None, layouts=()
    )
    for kind in ("q", "k"):
        described = run.manifest.arrays[names.array_name(1, kind)]
        assert described["dtype"] == name
        assert run.array(names.array_name(1, kind)).itemsize == 2
    assert run.manifest.arrays["layers.1.v_norm"]["dtype"] == "float32"
    assert run.head(1, 3).queries().dtype == (np.float32 if dtype == torch.bfloat16 else np.float16)
    texts = list(run.sequences["text"])
    for seq in range(run.info.n_sequences):
        reference = eager_attentions(
            model, {"input_ids": minilm.tokenizer(texts[seq], return_tensors="pt")["input_ids"]}
        )
        for layer in range(run.info.layers):
            for head in range(run.info.heads):
                expected = reference[layer][0, head].float().numpy()
                np.testing.assert_allclose(
                    run.head(layer, head).attention(seq), expected, atol=TOLERANCE[name]
                )


def _as_schema_1(run: av.Run) -> None:
    """Rewrite a run as attentionviz wrote it before attention was derived: every sequence's
    attention stored (from head.attention), `attn_offset`, no aggregate, schema 1."""
    import pandas as pd

    path = run.path
    manifest = json.loads((path / names.MANIFEST).read_text())
    lengths = run.sequences["n_tokens"].to_numpy()
    for layer in range(run.info.layers):
        flat = np.stack(
            [
                np.concatenate([run.head(layer, h).attention(s).ravel() for s in range(len(lengths))])
                for h in range(run.info.heads)
            ]
        )
        name = names.array_name(layer, "attention")
        np.save(names.array_path(path, name), flat)
        manifest["arrays"][name] = {
            "shape": list(flat.shape),
            "dtype": "float32",
            "sha256": sha256_file(names.array_path(path, name)),
        }
        aggregate = names.array_name(layer, "aggregate")
        names.array_path(path, aggregate).unlink()
        del manifest["arrays"][aggregate]
    sequences = run.sequences.copy()
    sequences.insert(5, "attn_offset", np.concatenate([[0], np.cumsum(lengths.astype(np.int64) ** 2)[:-1]]))
    sequences.to_parquet(path / names.SEQUENCES, index=False)
    settings = {key: value for key, value in manifest["settings"].items() if key != "identity"}
    m = run.manifest
    captured = {
        "model": m.model.fingerprint or m.model.id,
        "corpus": m.corpus.fingerprint,
        "settings": settings,
    }
    manifest["settings"]["identity"] = _digest({**captured, "schema": 1})  # as schema 1 recorded it
    manifest.update(schema_version=1)
    del manifest["aggregate_positions"]
    (path / names.MANIFEST).write_text(json.dumps(manifest))
    assert "attn_offset" in pd.read_parquet(path / names.SEQUENCES)


def test_building_again_over_an_old_run_of_the_same_capture_upgrades_it(
    minilm: Any, sentences: list[str], tmp_path: Path
) -> None:
    """The aggregate the upgrade averages from stored attention is the one the capture summed."""
    model = TEXT_MODELS["gpt2"]()
    out = tmp_path / "run"
    built = av.build(model, sentences, tokenizer=minilm.tokenizer, out=out, max_tokens=None, layouts=())
    aggregates = {
        layer: built.array(names.array_name(layer, "aggregate")).copy() for layer in range(built.info.layers)
    }
    q = built.array("layers.1.q").copy()
    _as_schema_1(built)
    with pytest.raises(av.AttentionVizError, match="attentionviz upgrade"):
        av.open(out)
    again = av.build(model, sentences, tokenizer=minilm.tokenizer, out=out, max_tokens=None, layouts=())
    assert again.manifest.schema_version == names.SCHEMA_VERSION
    np.testing.assert_array_equal(again.array("layers.1.q"), q)
    for layer, aggregate in aggregates.items():
        np.testing.assert_allclose(again.array(names.array_name(layer, "aggregate")), aggregate, atol=1e-6)
    assert not list((out / names.CAPTURE_DIR).glob("*.attention.npy"))
    assert (
        av.build(model, sentences, tokenizer=minilm.tokenizer, out=out, max_tokens=None, layouts=()).path
        == out
    )
