"""Head importance by mean ablation: the batched passes (layers before the ablated one answered from
a record, a layer's heads ablated together in one replicated batch) give exactly what one full
pass per head gives, with the head's output replaced at the model's own output projection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from attentionviz.analysis import importance

VOCAB = 3000  # small, so the logits of every replica stay small


def _lm(kind: str) -> Any:
    import torch
    import transformers

    torch.manual_seed(0)
    if kind == "llama":
        config = transformers.LlamaConfig(
            vocab_size=VOCAB,
            hidden_size=64,
            intermediate_size=96,
            num_hidden_layers=3,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=64,
        )
        return transformers.LlamaForCausalLM(config).eval()
    if kind == "gpt2":
        config = transformers.GPT2Config(vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64)
        return transformers.GPT2LMHeadModel(config).eval()
    config = transformers.BertConfig(
        vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64
    )
    return transformers.BertForMaskedLM(config).eval()


def _projection(model: Any, kind: str, layer: int) -> Any:
    """The module whose input is the concatenated head outputs [B, S, heads * head_dim]."""
    if kind == "llama":
        return model.model.layers[layer].self_attn.o_proj
    if kind == "gpt2":
        return model.transformer.h[layer].attn.c_proj
    return model.bert.encoder.layer[layer].attention.output.dense


def _reference(model: Any, kind: str, batches: list[importance.Batch], heads: int) -> np.ndarray:
    """[layers, heads] summed loss with each head mean-ablated, one full eager pass per head."""
    import torch

    layers = model.config.num_hidden_layers
    sums = [torch.zeros(heads, model.config.hidden_size // heads, dtype=torch.float64) for _ in range(layers)]

    current: list[Any] = [None]

    def run(hook_for: Callable[[int], Any]) -> list[Any]:
        """Every batch through the model with `hook_for(layer)` on each layer's output projection."""
        handles = [_projection(model, kind, i).register_forward_pre_hook(hook_for(i)) for i in range(layers)]
        try:
            out = []
            with torch.inference_mode():
                for batch in batches:
                    current[0] = batch.mask
                    out.append(model(input_ids=batch.ids, attention_mask=batch.mask).logits)
            return out
        finally:
            for handle in handles:
                handle.remove()

    def accumulate(i: int) -> Any:
        def hook(_module: Any, args: tuple[Any, ...]) -> None:
            x = args[0].reshape(*args[0].shape[:2], heads, -1)  # [B, S, H, D]
            sums[i] += x[current[0].bool()].double().sum(dim=0)

        return hook

    run(accumulate)
    count = sum(int(b.mask.sum()) for b in batches)
    means = [s / count for s in sums]
    out = np.zeros((layers, heads))
    for layer in range(layers):
        for head in range(heads):

            def ablate(i: int, layer: int = layer, head: int = head) -> Any:
                def hook(_module: Any, args: tuple[Any, ...]) -> Any:
                    if i != layer:
                        return None
                    x = args[0].clone().reshape(*args[0].shape[:2], heads, -1)
                    x[:, :, head] = means[layer][head].to(x.dtype)
                    return (x.reshape(args[0].shape),)

                return hook

            logits = run(ablate)
            out[layer, head] = sum(
                float(importance._loss_sums(lg, b.labels).sum())
                for lg, b in zip(logits, batches, strict=True)
            )
    return out


@pytest.mark.parametrize("kind", ["llama", "gpt2", "bert"])
def test_batched_mean_ablation_equals_one_pass_per_head(kind: str) -> None:
    from transformers import AutoTokenizer

    from attentionviz.capture.loading import resolve

    model = _lm(kind)
    tokenizer = AutoTokenizer.from_pretrained(resolve("minilm")[1]) if kind == "bert" else None
    lm = importance.load_language_model(model, tokenizer=tokenizer)
    rng = np.random.default_rng(0)
    sequences = [rng.integers(1000, 3000, size=int(n)) for n in rng.integers(6, 30, size=20)]
    rise, clean = importance.mean_ablation(lm, sequences, seed=3)
    batches = importance._batches(lm, sequences, None, 3)
    assert len(batches) > 1  # the record-and-replicate path runs across several batches
    scored = sum(int((b.labels != -100).sum()) for b in batches)
    expected = _reference(model, kind, batches, model.config.num_attention_heads) / scored - clean
    assert rise.shape == expected.shape
    assert np.abs(rise - expected).max() <= 1e-4 * max(1.0, np.abs(expected).max())
    assert np.abs(rise).max() > 1e-5  # ablating heads of a random model does change its loss


def test_resuming_an_interrupted_measurement_gives_the_same_result(tmp_path: Any) -> None:
    model = _lm("llama")
    lm = importance.load_language_model(model)
    rng = np.random.default_rng(1)
    sequences = [rng.integers(1000, 3000, size=int(n)) for n in rng.integers(6, 30, size=20)]
    whole, _ = importance.mean_ablation(lm, sequences, state=tmp_path)
    seen: list[int] = []

    def stop_after_one(done: int, total: int) -> None:
        seen.append(total)
        if done == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        importance.mean_ablation(lm, sequences, state=tmp_path / "again", progress=stop_after_one)
    resumed: list[int] = []
    again, _ = importance.mean_ablation(
        lm, sequences, state=tmp_path / "again", progress=lambda done, total: resumed.append(done)
    )
    assert resumed[0] == 2  # the first batch was not measured again
    assert np.allclose(again, whole, atol=1e-9)


def test_a_model_without_its_language_modelling_head_is_refused_in_one_line() -> None:
    from attentionviz.errors import ModelError

    with pytest.raises(ModelError, match=r"no masked-LM head .*build without --importance"):
        importance.load_language_model("minilm")
