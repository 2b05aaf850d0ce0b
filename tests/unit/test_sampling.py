"""Sampling text sequences: the same sample as tokenizing everything, for a fraction of the work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, processors

from attentionviz.capture.sampling import FILLED, sample_text, walk
from attentionviz.capture.sequences import TextSequence, iter_text_sequences


@dataclass
class Item:
    text: str
    document: int
    source: str = "test"


class CountingTokenizer:
    """A real word-level tokenizer with [CLS] ... [SEP], counting the texts it encodes."""

    def __init__(self) -> None:
        vocab = {"[UNK]": 0, "[CLS]": 1, "[SEP]": 2} | {f"w{i}": 3 + i for i in range(50)}
        backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
        backend.pre_tokenizer = pre_tokenizers.Whitespace()
        backend.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 1), ("[SEP]", 2)]
        )
        self.inner = backend
        self.encoded = 0

    @property
    def backend_tokenizer(self) -> Any:
        return self

    def no_truncation(self) -> None:
        self.inner.no_truncation()

    def no_padding(self) -> None:
        self.inner.no_padding()

    def encode_batch(self, texts: list[str], add_special_tokens: bool) -> Any:
        self.encoded += len(texts)
        return self.inner.encode_batch(texts, add_special_tokens=add_special_tokens)


def corpus(n: int, *, seed: int = 0, long_every: int = 0) -> list[Item]:
    rng = np.random.default_rng(seed)
    items = []
    for i in range(n):
        words = int(rng.integers(3, 30)) if not (long_every and i % long_every == 0) else 300
        items.append(Item(" ".join(f"w{int(w)}" for w in rng.integers(0, 50, words)), document=i))
    return items


def reference(items: list[Item], *, limit: int, seed: int, **budget: Any) -> list[TextSequence]:
    """The same rules with every item tokenized first."""
    windows: dict[int, list[TextSequence]] = {}
    for seq in iter_text_sequences(items, CountingTokenizer(), limit=limit):
        windows.setdefault(seq.key.item, []).append(seq)
    order = np.random.default_rng(seed).permutation(len(items))
    taken, _ = walk(order, windows, **budget)
    return sorted(taken, key=lambda s: (s.key.item, s.key.window))


def keys(sequences: list[TextSequence]) -> list[tuple[int, int]]:
    return [(s.key.item, s.key.window) for s in sequences]


@pytest.mark.parametrize(
    ("budget", "long_every"),
    [
        ({"max_tokens": 500, "max_sequences": None}, 0),
        ({"max_tokens": 3000, "max_sequences": None}, 7),  # long items split into windows
        ({"max_tokens": None, "max_sequences": 40}, 0),
        ({"max_tokens": 800, "max_sequences": 25}, 5),
    ],
)
def test_the_sample_equals_the_one_with_everything_tokenized(budget: dict[str, Any], long_every: int) -> None:
    items = corpus(2000, long_every=long_every)
    tokenizer = CountingTokenizer()
    got = sample_text(items, tokenizer, limit=64, seed=7, **budget)
    assert keys(got) == keys(reference(items, limit=64, seed=7, **budget))
    assert keys(got) == sorted(keys(got)), "returned in corpus order"
    assert tokenizer.encoded < len(items) / 4, "only about the budget is tokenized, not the corpus"
    if budget["max_tokens"]:
        total = sum(len(s.input_ids) for s in got)
        assert FILLED * budget["max_tokens"] <= total <= budget["max_tokens"] or (
            budget["max_sequences"] and len(got) == budget["max_sequences"]
        )


def test_seeds_give_different_samples_and_the_same_seed_the_same() -> None:
    items = corpus(500)
    a = sample_text(items, CountingTokenizer(), limit=64, max_tokens=300, max_sequences=None, seed=1)
    b = sample_text(items, CountingTokenizer(), limit=64, max_tokens=300, max_sequences=None, seed=1)
    c = sample_text(items, CountingTokenizer(), limit=64, max_tokens=300, max_sequences=None, seed=2)
    assert keys(a) == keys(b) and keys(a) != keys(c)


def test_a_budget_larger_than_the_corpus_takes_everything() -> None:
    items = corpus(60)
    got = sample_text(items, CountingTokenizer(), limit=64, max_tokens=10**6, max_sequences=None, seed=0)
    assert keys(got) == keys(list(iter_text_sequences(items, CountingTokenizer(), limit=64)))


def test_no_budget_tokenizes_each_item_once() -> None:
    items = corpus(100)
    tokenizer = CountingTokenizer()
    got = sample_text(items, tokenizer, limit=64, max_tokens=None, max_sequences=None, seed=0)
    assert len(got) == 100 and tokenizer.encoded == 100
