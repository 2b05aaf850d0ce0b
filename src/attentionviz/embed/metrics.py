"""Per-head metrics for sorting and colouring the Matrix View, from the model's own attention.

All of them are means over every query row of the corpus, computed on the flattened attention
array (`layers.{l}.attention[h]`, sequence s at attn_offset[s], row-major [len, len]) without a
Python loop over sequences:

    entropy           -sum_j a_ij log a_ij, in nats
    distance          sum_j a_ij |i - j|, in positions
    previous / next   a[i, i-1] (rows i >= 1), a[i, i+1] (rows i <= len-2)
    self              a[i, i]
    first             a[i, 0] (rows i >= 1): the attention sink
    sparsity          how many keys hold 90% of the row's attention
    q_norm, k_norm    mean L2 norm of the head's queries and of its KV group's keys; gap = q - k
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

MASS = 0.9


@dataclass(frozen=True)
class AttentionIndex:
    """Where each entry of a layer's flattened attention sits: its query row and (i, j) positions."""

    row: np.ndarray  # [E] int32 global token index of the query
    i: np.ndarray  # [E] int32 query position in its sequence
    j: np.ndarray  # [E] int32 key position in its sequence
    n_rows: int

    @classmethod
    def build(cls, lengths: np.ndarray, offsets: np.ndarray, token_starts: np.ndarray) -> AttentionIndex:
        lengths = np.asarray(lengths, dtype=np.int64)
        sizes = lengths * lengths
        expected = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        if not np.array_equal(np.asarray(offsets, dtype=np.int64), expected):
            raise ValueError("attention offsets are not contiguous in sequence order")
        total = int(sizes.sum())
        seq = np.repeat(np.arange(len(lengths)), sizes)  # [E] sequence of each entry
        local = np.arange(total, dtype=np.int64) - np.repeat(expected, sizes)  # [E] index inside [len, len]
        length = lengths[seq]
        i = local // length
        j = local - i * length
        row = np.asarray(token_starts, dtype=np.int64)[seq] + i
        return cls(row.astype(np.int32), i.astype(np.int32), j.astype(np.int32), int(lengths.sum()))


def head_metrics(
    attention: np.ndarray, index: AttentionIndex, q: np.ndarray, k: np.ndarray
) -> dict[str, Any]:
    """The metrics of one head, from its flattened attention [E] and its queries / keys [N, D]."""
    a = np.asarray(attention, dtype=np.float64)
    if a.shape != index.row.shape:
        raise ValueError(f"attention has {a.size} entries, the index {index.row.size}")
    rows = index.n_rows
    length = np.bincount(index.row, minlength=rows)  # keys per row, = the sequence length
    seq_len = length[index.row]

    def per_row(weights: np.ndarray) -> np.ndarray:
        return np.bincount(index.row, weights=weights, minlength=rows)

    def mean_where(values: np.ndarray, mask: np.ndarray) -> float:
        return float(values[mask].mean()) if mask.any() else float("nan")

    positive = a > 0
    entropy = per_row(np.where(positive, -a * np.log(np.where(positive, a, 1.0)), 0.0))
    distance = per_row(a * np.abs(index.i - index.j))
    metrics: dict[str, Any] = {
        "entropy": float(entropy.mean()),
        "distance": float(distance.mean()),
        "previous": mean_where(a, index.j == index.i - 1),
        "next": mean_where(a, (index.j == index.i + 1) & (index.i <= seq_len - 2)),
        "self": mean_where(a, index.j == index.i),
        "first": mean_where(a, (index.j == 0) & (index.i >= 1)),
        "sparsity": float(_keys_for_mass(a, index.row, rows).mean()),
    }
    q_norm = float(np.linalg.norm(np.asarray(q, dtype=np.float64), axis=1).mean())
    k_norm = float(np.linalg.norm(np.asarray(k, dtype=np.float64), axis=1).mean())
    metrics.update(q_norm=q_norm, k_norm=k_norm, gap=q_norm - k_norm)
    return metrics


def _keys_for_mass(a: np.ndarray, row: np.ndarray, rows: int, mass: float = MASS) -> np.ndarray:
    """[rows] the fewest keys whose attention adds up to `mass` of each row's total."""
    order = np.lexsort((-a, row))  # by row, then largest weight first
    sorted_a = a[order]
    sorted_row = row[order]
    totals = np.bincount(row, weights=a, minlength=rows)
    cum = np.cumsum(sorted_a)
    row_start = np.concatenate([[0], np.cumsum(np.bincount(row, minlength=rows))[:-1]])
    before = cum - sorted_a - (cum - sorted_a)[row_start][sorted_row]  # mass of the larger keys in the row
    needed = before < mass * totals[sorted_row] - 1e-7
    return np.bincount(sorted_row, weights=needed, minlength=rows)
