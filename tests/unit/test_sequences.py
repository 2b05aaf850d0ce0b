"""Windows, sampling and batching of sequences (no model)."""

from __future__ import annotations

import numpy as np
import pytest

from attentionviz.capture.sequences import SequenceKey, plan_batches, sample, text_windows


def encoding(n_content: int, *, head: int = 1, tail: int = 1) -> dict[str, list]:
    ids = [101] * head + list(range(1000, 1000 + n_content)) + [102] * tail
    special = [1] * head + [0] * n_content + [1] * tail
    offsets = [(0, 0)] * head + [(i, i + 1) for i in range(n_content)] + [(0, 0)] * tail
    return {"input_ids": ids, "special_tokens_mask": special, "offset_mapping": offsets}


def test_a_short_text_is_one_window() -> None:
    (window,) = text_windows(encoding(5), limit=10)
    ids, offsets, special = window
    assert ids == [101, 1000, 1001, 1002, 1003, 1004, 102]
    assert offsets[0] == (-1, -1) and offsets[1] == (0, 1)
    assert special == [True, False, False, False, False, False, True]


def test_a_long_text_is_split_into_windows_that_keep_every_token_and_the_special_tokens() -> None:
    windows = text_windows(encoding(25), limit=10)
    assert all(len(ids) <= 10 for ids, _, _ in windows)
    assert all(ids[0] == 101 and ids[-1] == 102 for ids, _, _ in windows), "each window keeps [CLS] ... [SEP]"
    content = [i for ids, _, special in windows for i, s in zip(ids, special, strict=True) if not s]
    assert content == list(range(1000, 1025)), "nothing is cut, nothing repeated"


def test_decoder_without_special_tokens_windows_cleanly() -> None:
    windows = text_windows(encoding(7, head=0, tail=0), limit=3)
    assert [len(ids) for ids, _, _ in windows] == [3, 3, 1]


def test_a_context_too_small_for_the_special_tokens_is_an_error() -> None:
    with pytest.raises(ValueError, match="cannot hold"):
        text_windows(encoding(5, head=2, tail=1), limit=3)


def keys(n: int) -> list[SequenceKey]:
    return [SequenceKey(i, 0) for i in range(n)]


def test_sampling_is_deterministic_whole_sequences_in_corpus_order() -> None:
    lengths = np.array([5, 7, 3, 9, 4, 6, 8, 2] * 5)
    a = sample(keys(40), lengths, max_tokens=50, max_sequences=None, seed=3)
    b = sample(keys(40), lengths, max_tokens=50, max_sequences=None, seed=3)
    c = sample(keys(40), lengths, max_tokens=50, max_sequences=None, seed=4)
    assert a == b and a != c
    assert [k.item for k in a] == sorted(k.item for k in a)
    assert sum(lengths[k.item] for k in a) <= 50
    assert sum(lengths[k.item] for k in a) >= 45, "the budget is filled when sequences fit"


def test_max_sequences_and_no_limits() -> None:
    lengths = np.full(10, 4)
    assert len(sample(keys(10), lengths, max_tokens=None, max_sequences=3, seed=0)) == 3
    assert sample(keys(10), lengths, max_tokens=None, max_sequences=None, seed=0) == keys(10)


def test_batches_respect_token_and_attention_budgets_and_cover_everything() -> None:
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 60, size=200)
    batches = plan_batches(lengths, batch_tokens=256, max_batch=16, attention_budget=4000)
    assert sorted(i for b in batches for i in b) == list(range(200))
    for batch in batches:
        longest = max(lengths[i] for i in batch)
        assert len(batch) <= 16
        assert len(batch) == 1 or (len(batch) * longest <= 256 and len(batch) * longest**2 <= 4000)


def test_batches_taken_in_a_given_order_still_respect_the_budgets() -> None:
    lengths = np.array([10, 40, 40, 12, 5, 40, 7])
    order_by = np.array([10, 40, 40, 40, 5, 40, 7])  # sequence 3 is the last window of the text 1..3
    batches = plan_batches(lengths, batch_tokens=80, max_batch=8, attention_budget=10**6, order_by=order_by)
    flat = [i for batch in batches for i in batch]
    assert flat == [4, 6, 0, 1, 2, 3, 5], "ascending order_by, ties in their own order"
    assert all(len(b) * max(int(lengths[i]) for i in b) <= 80 for b in batches)
