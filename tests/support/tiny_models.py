"""Tiny random models of every supported family, built in-process from configs (no download)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

VOCAB = 30522  # the MiniLM (BERT) tokenizer's vocabulary: every tiny text model uses that tokenizer


def _text(config_cls: str, **kwargs: Any) -> Callable[[], Any]:
    def make() -> Any:
        import torch
        import transformers

        torch.manual_seed(0)
        config = getattr(transformers, config_cls)(**kwargs)
        model = transformers.AutoModel.from_config(config)
        return model.eval()

    return make


_DECODER = dict(
    vocab_size=VOCAB,
    hidden_size=64,
    intermediate_size=96,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    max_position_embeddings=256,
)

TEXT_MODELS: dict[str, Callable[[], Any]] = {
    "bert": _text(
        "BertConfig",
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
    ),
    "roberta": _text(
        "RobertaConfig",
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=70,
    ),
    "distilbert": _text(
        "DistilBertConfig",
        vocab_size=VOCAB,
        dim=32,
        n_layers=2,
        n_heads=4,
        hidden_dim=64,
        max_position_embeddings=64,
    ),
    "gpt2": _text(
        "GPT2Config",
        vocab_size=VOCAB,
        n_embd=32,
        n_layer=2,
        n_head=4,
        n_positions=64,
        bos_token_id=0,
        eos_token_id=0,
    ),
    "llama-gqa": _text("LlamaConfig", **_DECODER),
    "mistral-sliding": _text("MistralConfig", **_DECODER, sliding_window=5),
    "qwen2": _text("Qwen2Config", **_DECODER),
    "qwen3-qknorm": _text("Qwen3Config", **_DECODER, head_dim=16),
    "gemma": _text("GemmaConfig", **_DECODER, head_dim=16),
    "gemma2-softcap-sliding": _text(
        "Gemma2Config",
        **_DECODER,
        head_dim=16,
        sliding_window=4,
        attn_logit_softcapping=5.0,
        query_pre_attn_scalar=20,
    ),
}

IMAGE_MODELS: dict[str, Callable[[], Any]] = {
    "vit": _text(
        "ViTConfig",
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
    ),
    "deit": _text(
        "DeiTConfig",
        image_size=32,
        patch_size=8,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
    ),
}
