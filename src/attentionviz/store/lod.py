"""The level-of-detail order every head's layout rows follow, wherever rows are sampled.

    lod_order(n_tokens)[:m]    the first m rows: a uniform sample of tokens, each as a query and a key

The server sends layouts in this order (so any prefix is a uniform sample: the Matrix View's
cells), and `embed` computes each head's coarse layout on a prefix of it (so the rows a cell draws
are the rows the coarse layout placed).
"""

from __future__ import annotations

import functools

import numpy as np


def lod_order(n_tokens: int) -> np.ndarray:
    """[2N] uint32: layout rows in level-of-detail order; any prefix is a uniform sample of tokens.

    Tokens are shuffled with a fixed seed and each token's query row (t) is followed by its key
    row (t + N), so a prefix holds both copies of the same tokens. The same for every head.
    """
    return cached_lod_order(n_tokens).copy()


@functools.lru_cache(maxsize=8)
def cached_lod_order(n_tokens: int) -> np.ndarray:
    """`lod_order`, shared: do not modify it."""
    tokens = np.random.default_rng(0).permutation(n_tokens).astype(np.uint32)
    return np.stack([tokens, tokens + n_tokens], axis=1).reshape(-1)  # [N, 2] -> [2N]


@functools.lru_cache(maxsize=8)
def lod_rank(n_tokens: int) -> np.ndarray:
    """[2N] position of each layout row in the LOD order (the inverse permutation); do not modify it."""
    return np.argsort(cached_lod_order(n_tokens))
