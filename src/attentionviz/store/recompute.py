"""Attention recomputed from stored queries and keys, with the model's own scaling and mask.

    a = softmax(softcap(q @ k^T * scaling) + mask)      q, k: [len, head_dim] of one sequence

This is how the tests prove that what was captured is what the model multiplied, and how a user
can check any head by hand.
"""

from __future__ import annotations

import numpy as np

from attentionviz.store.manifest import LayerInfo


def allowed_mask(length: int, layer: LayerInfo) -> np.ndarray:
    """[len, len] bool: may query i attend to key j (causal and sliding-window rules)."""
    i = np.arange(length)[:, None]
    j = np.arange(length)[None, :]
    allowed = np.ones((length, length), dtype=bool)
    if layer.causal:
        allowed &= j <= i
    if layer.sliding_window is not None:
        allowed &= j > i - layer.sliding_window
    return allowed


def attention_from_qk(q: np.ndarray, k: np.ndarray, layer: LayerInfo) -> np.ndarray:
    """[len, len] attention of one sequence from its [len, D] queries and keys."""
    logits = (q.astype(np.float64) @ k.astype(np.float64).T) * layer.scaling  # [len, len]
    if layer.softcap is not None:
        logits = np.tanh(logits / layer.softcap) * layer.softcap
    logits = np.where(allowed_mask(len(q), layer), logits, -np.inf)
    logits -= logits.max(axis=1, keepdims=True)
    weights = np.exp(logits)
    normalised: np.ndarray = (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)
    return normalised
