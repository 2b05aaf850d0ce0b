"""A tiny GPT-2 language model trained in-process, and a training series of runs built from it
(`attentionviz.build_step`): what the series, compare and scrubbing tests look at. Its weights differ
from machine to machine; tests assert on what the runs show, never on numbers of one training."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.support.tiny_models import VOCAB


def tiny_lm(seed: int = 0) -> Any:
    """A 2-layer, 4-head GPT-2 language model over the MiniLM tokenizer's vocabulary, untrained."""
    import torch
    import transformers

    torch.manual_seed(seed)
    config = transformers.GPT2Config(
        vocab_size=VOCAB, n_embd=32, n_layer=2, n_head=4, n_positions=64, bos_token_id=0, eos_token_id=0
    )
    return transformers.GPT2LMHeadModel(config)


def lm_batch(tokenizer: Any, sentences: Sequence[str]) -> dict[str, Any]:
    """The sentences as one padded batch with next-token labels (padding ignored)."""
    batch = tokenizer(list(sentences), return_tensors="pt", padding=True, truncation=True, max_length=32)
    labels = batch["input_ids"].clone()
    labels[batch["attention_mask"] == 0] = -100
    return {"input_ids": batch["input_ids"], "attention_mask": batch["attention_mask"], "labels": labels}


def train_series(
    out: Path, tokenizer: Any, sentences: Sequence[str], *, steps: Sequence[int], **settings: Any
) -> Path:
    """Train `tiny_lm` on the sentences (Adam, lr 1e-2) and build a run at each of `steps` into `out`."""
    import torch

    import attentionviz as av

    model = tiny_lm()
    model.train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = lm_batch(tokenizer, sentences)
    for step in range(max(steps) + 1):
        if step in steps:
            av.build_step(model, list(sentences), out=out, step=step, tokenizer=tokenizer, **settings)
        optimizer.zero_grad()
        model(**batch).loss.backward()
        optimizer.step()
    return out
