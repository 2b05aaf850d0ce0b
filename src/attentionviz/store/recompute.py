"""Attention derived from the stored queries and keys, with the layer's recorded semantics.

    a = softmax(softcap(q @ k^T * scaling) + mask)      q: [..., rows, D], k: [..., len, D]

`attention_from_qk` is the one function through which everything reads attention: `head.attention`, the
HTTP routes and the static export, the head metrics, the aggregate of a resumed build, and the
build's check that it equals the model's own eager attention on the first batch. A run stores q
and k (O(len) per sequence), never the [len, len] matrices. The mask is the layer's (`LayerInfo`:
causal, sliding window) and, for sequences stacked with padding, their lengths.

It computes in float64 over chunks of query rows, so its memory is bounded whatever the length.
"""

from __future__ import annotations

import numpy as np

from attentionviz.store.manifest import LayerInfo

CHUNK_ENTRIES = 1 << 22  # float64 logits per chunk of rows (32 MB)


def allowed_mask(length: int, layer: LayerInfo, *, rows: tuple[int, int] | None = None) -> np.ndarray:
    """[rows, len] bool: may query i (of rows start..stop, default all) attend to key j."""
    start, stop = (0, length) if rows is None else rows
    i = np.arange(start, stop)[:, None]
    j = np.arange(length)[None, :]
    allowed = np.ones((stop - start, length), dtype=bool)
    if layer.causal:
        allowed &= j <= i
    if layer.sliding_window is not None:
        allowed &= j > i - layer.sliding_window
    return allowed


def attention_from_qk(
    q: np.ndarray,
    k: np.ndarray,
    layer: LayerInfo,
    *,
    first_row: int = 0,
    lengths: np.ndarray | None = None,
) -> np.ndarray:
    """[..., rows, len] float32 attention of query rows first_row.. over the keys of their sequence.

    `q` [..., rows, D] holds the queries of those rows, `k` [..., len, D] every key of the
    sequence; leading dimensions broadcast (heads, stacked sequences). `lengths` (broadcast to the
    leading dimensions): stacked sequences padded to `len`, whose keys past their length are
    masked and whose rows past it come back as zeros.
    """
    q = np.asarray(q)
    k = np.asarray(k)
    rows, length = q.shape[-2], k.shape[-2]
    lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2])
    out = np.empty((*lead, rows, length), dtype=np.float32)
    keys_t = np.swapaxes(k.astype(np.float64), -1, -2)  # [..., D, len]
    step = max(1, CHUNK_ENTRIES // max(1, int(np.prod(lead, dtype=np.int64)) * length))
    inside = None if lengths is None else np.asarray(lengths)[..., None, None]  # [..., 1, 1]
    for start in range(0, rows, step):
        stop = min(rows, start + step)
        logits = (q[..., start:stop, :].astype(np.float64) @ keys_t) * layer.scaling  # [..., r, len]
        if layer.softcap is not None:
            logits = np.tanh(logits / layer.softcap) * layer.softcap
        allowed = allowed_mask(length, layer, rows=(first_row + start, first_row + stop))  # [r, len]
        if inside is not None:
            positions = np.arange(length)
            row_positions = np.arange(first_row + start, first_row + stop)[:, None]
            allowed = allowed & (positions < inside) & (row_positions < inside)  # [..., r, len]
        logits = np.where(allowed, logits, -np.inf)
        top = logits.max(axis=-1, keepdims=True)
        weights = np.exp(logits - np.where(np.isfinite(top), top, 0.0))
        total = weights.sum(axis=-1, keepdims=True)
        out[..., start:stop, :] = np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)
    return out


def aggregate_counts(lengths: np.ndarray, positions: int) -> np.ndarray:
    """[positions, positions] int32: how many sequences hold both positions i and j.

    The aggregate averages each position pair over those sequences (`layers.{l}.aggregate`).
    """
    ordered = np.sort(np.asarray(lengths, dtype=np.int64))
    longer = len(ordered) - np.searchsorted(ordered, np.arange(positions), side="right")  # [positions]
    far = np.maximum.outer(np.arange(positions), np.arange(positions))  # [positions, positions]
    counts: np.ndarray = longer[far].astype(np.int32)
    return counts
