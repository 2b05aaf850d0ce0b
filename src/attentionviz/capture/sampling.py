"""Which text sequences a build captures: a seeded sample, tokenizing only what it needs.

The sample walks the corpus items in a seeded permutation and takes their sequences (an item is one
sequence, or several windows when it is longer than the context) while they fit the budgets:

- `max_sequences`: stop once that many are taken;
- `max_tokens`: a sequence that does not fit is skipped while less than 95% of the budget is used;
  after that, the first one that does not fit ends the sample (so a nearly full budget never sends
  the walk through the rest of the corpus looking for a sequence short enough).

Only a prefix of the permutation is tokenized: its size is estimated from the items' characters
and the tokens per character seen so far, and extended until the walk ends inside it. The result
is the one a walk with every item tokenized gives, at the cost of one untokenized pass over the
corpus plus the tokenization of roughly the budget. Sequences are returned in corpus order.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

import numpy as np

from attentionviz.capture.sequences import TextSequence, iter_text_sequences

log = logging.getLogger(__name__)

FILLED = 0.95  # share of max_tokens after which the first sequence that does not fit ends the sample
TOKENS_PER_CHAR = 0.35  # first guess (English subwords: about 1 token per 3-4 characters)
MARGIN = 1.25  # tokenize this much more than the estimate asks for
MIN_EXTENSION = 32  # items


def walk(
    order: np.ndarray,
    windows: dict[int, list[TextSequence]],
    *,
    max_tokens: int | None,
    max_sequences: int | None,
) -> tuple[list[TextSequence], bool]:
    """Take sequences of the items in `order` (all tokenized) by the rules above.

    Returns the taken sequences and whether the sample ended (a budget was met) inside `order`.
    """
    taken: list[TextSequence] = []
    total = 0
    for item in order:
        for seq in windows.get(int(item), []):
            if max_sequences is not None and len(taken) >= max_sequences:
                return taken, True
            length = len(seq.input_ids)
            if max_tokens is not None and total + length > max_tokens:
                if total >= FILLED * max_tokens:
                    return taken, True
                continue
            taken.append(seq)
            total += length
            if max_tokens is not None and total >= max_tokens:
                return taken, True
    return taken, False


def sample_text(
    corpus: Iterable[Any],
    tokenizer: Any,
    *,
    limit: int,
    max_tokens: int | None,
    max_sequences: int | None,
    seed: int,
) -> list[TextSequence]:
    """The sampled sequences of `corpus` in corpus order (everything when there is no budget)."""
    if max_tokens is None and max_sequences is None:
        return list(iter_text_sequences(corpus, tokenizer, limit=limit))
    chars = np.fromiter((len(item.text) for item in corpus), dtype=np.int64)  # one pass, no tokenizer
    order = np.random.default_rng(seed).permutation(len(chars))
    windows: dict[int, list[TextSequence]] = {}
    prefix = 0
    seen_chars = seen_tokens = 0
    while True:
        taken, ended = walk(order[:prefix], windows, max_tokens=max_tokens, max_sequences=max_sequences)
        if ended or prefix >= len(order):
            break
        extension = _extension(
            order[prefix:],
            chars,
            taken=taken,
            max_tokens=max_tokens,
            max_sequences=max_sequences,
            tokens_per_char=seen_tokens / seen_chars if seen_chars else TOKENS_PER_CHAR,
        )
        new = order[prefix : prefix + extension]
        prefix += extension
        for seq in iter_text_sequences(corpus, tokenizer, limit=limit, items={int(i) for i in new}):
            windows.setdefault(seq.key.item, []).append(seq)
            seen_tokens += len(seq.input_ids)
        seen_chars += int(chars[new].sum())
        log.debug("sampling: tokenized %d of %d items", prefix, len(order))
    return sorted(taken, key=lambda seq: (seq.key.item, seq.key.window))


def _extension(
    rest: np.ndarray,
    chars: np.ndarray,
    *,
    taken: list[TextSequence],
    max_tokens: int | None,
    max_sequences: int | None,
    tokens_per_char: float,
) -> int:
    """How many more items of the permutation to tokenize (at least MIN_EXTENSION, at most the rest)."""
    wanted = len(rest)
    if max_sequences is not None:  # every item gives at least one sequence
        wanted = min(wanted, max_sequences - len(taken))
    if max_tokens is not None:
        missing = max_tokens - sum(len(seq.input_ids) for seq in taken)
        estimated = np.cumsum(chars[rest] * max(tokens_per_char, 1e-3) + 1)
        wanted = min(wanted, int(np.searchsorted(estimated, missing * MARGIN)) + 1)
    return int(min(len(rest), max(wanted, MIN_EXTENSION)))
