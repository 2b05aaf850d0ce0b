"""Corpus items -> model-sized token sequences, sampled deterministically.

A text longer than the model's context is split into windows (each keeps the model's own special
tokens, e.g. [CLS] ... [SEP]); every window is a sequence of its own and records its window index.
Nothing is silently cut. Sampling picks whole sequences from a seeded permutation (`sample` for
images; text in `capture/sampling.py`, which tokenizes only what it samples).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

TOKENIZE_BATCH = 256


@dataclass(frozen=True)
class SequenceKey:
    item: int  # ordinal of the corpus item (sentence, line, record, image) in iteration order
    window: int


@dataclass(eq=False)
class TextSequence:
    """One window of one corpus item; the token columns are compact arrays (a sample of a million
    tokens holds them in ~25 MB, where Python lists of ints and tuples took ~200 MB)."""

    key: SequenceKey
    document: int
    source: str
    text: str
    input_ids: np.ndarray  # [n] int32
    offsets: np.ndarray  # [n, 2] int32: character span in `text`, (-1, -1) for special tokens
    special: np.ndarray  # [n] bool


@dataclass
class ImageSequence:
    key: SequenceKey
    document: int
    source: str
    image_path: Path
    length: int


def text_windows(
    encoding: dict[str, Any], limit: int
) -> list[tuple[list[int], list[tuple[int, int]], list[bool]]]:
    """Split one encoding (with special tokens) into windows of at most `limit` tokens.

    Leading and trailing special tokens are repeated around every window's content tokens.
    """
    ids: list[int] = list(encoding["input_ids"])
    special = [bool(s) for s in encoding["special_tokens_mask"]]
    offsets = [
        (-1, -1) if s else (int(a), int(b))
        for s, (a, b) in zip(special, encoding["offset_mapping"], strict=True)
    ]
    if len(ids) <= limit:
        return [(ids, offsets, special)]
    head = next((i for i, s in enumerate(special) if not s), len(ids))
    tail = len(ids) - next((i for i, s in enumerate(reversed(special)) if not s), 0)
    room = limit - head - (len(ids) - tail)
    if room < 1:
        raise ValueError(
            f"a context of {limit} tokens cannot hold the {len(ids) - (tail - head)} special tokens"
        )
    windows = []
    for start in range(head, tail, room):
        stop = min(start + room, tail)
        window_ids = ids[:head] + ids[start:stop] + ids[tail:]
        window_offsets = offsets[:head] + offsets[start:stop] + offsets[tail:]
        window_special = special[:head] + special[start:stop] + special[tail:]
        windows.append((window_ids, window_offsets, window_special))
    return windows


def _batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def encode(tokenizer: Any, texts: list[str]) -> list[dict[str, Any]]:
    """Encodings with special tokens, offsets and the special-token mask; never truncated."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:  # a slow (Python) tokenizer
        batch = tokenizer(
            texts, add_special_tokens=True, return_offsets_mapping=True, return_special_tokens_mask=True
        )
        return [
            {k: batch[k][i] for k in ("input_ids", "offset_mapping", "special_tokens_mask")}
            for i in range(len(texts))
        ]
    backend.no_truncation()  # a tokenizer.json may ship a truncation length (sentence-transformers do)
    backend.no_padding()
    return [
        {"input_ids": e.ids, "offset_mapping": e.offsets, "special_tokens_mask": e.special_tokens_mask}
        for e in backend.encode_batch(texts, add_special_tokens=True)
    ]


def iter_text_sequences(
    corpus: Iterable[Any], tokenizer: Any, *, limit: int, items: set[int] | None = None
) -> Iterator[TextSequence]:
    """Tokenize corpus items in batches and yield their windows (only those of `items` when given)."""
    numbered = ((ordinal, item) for ordinal, item in enumerate(corpus) if items is None or ordinal in items)
    for chunk in _batched(numbered, TOKENIZE_BATCH):
        for (ordinal, item), encoding in zip(
            chunk, encode(tokenizer, [item.text for _, item in chunk]), strict=True
        ):
            for window, (ids, offsets, special) in enumerate(text_windows(encoding, limit)):
                yield TextSequence(
                    SequenceKey(ordinal, window),
                    item.document,
                    item.source,
                    item.text,
                    np.asarray(ids, dtype=np.int32),
                    np.asarray(offsets, dtype=np.int32).reshape(-1, 2),
                    np.asarray(special, dtype=bool),
                )


def iter_image_sequences(corpus: Iterable[Any], *, length: int) -> Iterator[ImageSequence]:
    for ordinal, item in enumerate(corpus):
        yield ImageSequence(SequenceKey(ordinal, 0), item.document, item.source, item.image_path, length)


def sample(
    keys: list[SequenceKey],
    lengths: np.ndarray,
    *,
    max_tokens: int | None,
    max_sequences: int | None,
    seed: int,
) -> list[SequenceKey]:
    """Whole sequences from a seeded permutation until the budgets are met, returned in corpus order."""
    if max_tokens is None and max_sequences is None:
        return keys
    order = np.random.default_rng(seed).permutation(len(keys))
    chosen: list[int] = []
    total = 0
    for index in order:
        if max_sequences is not None and len(chosen) >= max_sequences:
            break
        length = int(lengths[index])
        if max_tokens is not None and total + length > max_tokens:
            continue
        chosen.append(int(index))
        total += length
        if max_tokens is not None and total >= max_tokens:
            break
    return [keys[i] for i in sorted(chosen)]


def plan_batches(
    lengths: np.ndarray,
    *,
    batch_tokens: int,
    max_batch: int,
    attention_budget: int,
    order_by: np.ndarray | None = None,
) -> list[list[int]]:
    """Group sequence indices of similar length so padding and the [B, H, S, S] weights stay bounded.

    Sequences are taken in ascending `order_by` (default: their length; stable, so ties keep their
    order). `attention_budget` caps B * S * S (attention entries per head) in one batch.
    """
    order = np.argsort(lengths if order_by is None else order_by, kind="stable")
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for index in order:
        size = len(current) + 1
        candidate = max(longest, int(lengths[index]))
        fits = (
            size <= max_batch
            and size * candidate <= batch_tokens
            and size * candidate * candidate <= attention_budget
        )
        if current and not fits:
            batches.append(current)
            current, candidate = [], int(lengths[index])
        current.append(int(index))
        longest = candidate
    if current:
        batches.append(current)
    return batches
