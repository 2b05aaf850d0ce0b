"""A head's attention over a run's sequences, derived from the stored queries and keys.

Every score of the head atlas is computed from attention derived through the store's one
function (`store.recompute.attention_from_qk`), never from a stored attention array: storage keeps
q and k, and attention is a function of them and of the layer's recorded mask and scaling.

    for seq, a in derived_attention(run, layer, head):    # a: [len, len], rows: queries
        ...
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np

from attentionviz.store.reader import Run

SAMPLE_TOKENS = 20_000  # the corpus tokens a head's profile and sparsity are measured on, at most


def sequence_table(run: Run) -> tuple[np.ndarray, np.ndarray]:
    """([S] first token index, [S] length) of every sequence of the run."""
    table = run.sequences
    return table["token_start"].to_numpy(dtype=np.int64), table["n_tokens"].to_numpy(dtype=np.int64)


def sample_sequences(run: Run, budget: int = SAMPLE_TOKENS, seed: int = 0) -> np.ndarray:
    """Sequence indices, sorted, holding about `budget` tokens: every sequence when the run is
    smaller, else a seeded sample (capture numbers sequences by length, so a prefix would not do)."""
    _, lengths = sequence_table(run)
    if int(lengths.sum()) <= budget:
        return np.arange(len(lengths))
    order = np.random.default_rng(seed).permutation(len(lengths))
    keep = order[: int(np.searchsorted(np.cumsum(lengths[order]), budget)) + 1]
    return np.sort(keep)


def derived_attention(
    run: Run, layer: int, head: int, sequences: Iterable[int] | None = None
) -> Iterator[tuple[int, np.ndarray]]:
    """(sequence, [len, len] attention) for the given sequences (default: all), in that order."""
    one = run.head(layer, head)
    for seq in range(run.info.n_sequences) if sequences is None else sequences:
        yield int(seq), one.attention(int(seq))
