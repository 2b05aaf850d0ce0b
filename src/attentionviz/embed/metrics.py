"""Per-head metrics for sorting and colouring the Matrix View, from the model's own attention.

All of them are means over every query row of the corpus. The attention is derived from the
head's queries and keys (`store.recompute.attention_from_qk`, the function every reader of
attention uses), for sequences of similar length stacked with padding and a block of query rows
at a time, so memory stays bounded however long a sequence is:

    entropy           -sum_j a_ij log a_ij, in nats
    distance          sum_j a_ij |i - j|, in positions
    previous / next   a[i, i-1] (rows i >= 1), a[i, i+1] (rows i <= len-2)
    self              a[i, i]
    first             a[i, 0] (rows i >= 1): the attention sink
    sparsity          how many keys hold 90% of the row's attention
    q_norm, k_norm    mean L2 norm of the head's queries and of its KV group's keys; gap = q - k
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from attentionviz.store.manifest import LayerInfo
from attentionviz.store.recompute import attention_from_qk

MASS = 0.9
BLOCK_ENTRIES = 1 << 21  # attention weights per block (sequences x rows x keys)
GROWTH = 1.25  # sequences whose lengths differ by less than this factor are stacked together


@dataclass
class RowSums:
    """Running sums of the per-row quantities over blocks of attention rows."""

    sums: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, values: np.ndarray, where: np.ndarray) -> None:
        self.sums[name] = self.sums.get(name, 0.0) + float(values[where].sum())
        self.counts[name] = self.counts.get(name, 0) + int(where.sum())

    def add_block(self, a: np.ndarray, first_row: int, lengths: np.ndarray) -> None:
        """`a` [S, r, L]: rows first_row.. of S sequences of `lengths` (rows and keys past a length are 0)."""
        a = np.asarray(a, dtype=np.float64)
        rows, width = a.shape[1], a.shape[2]
        i = np.arange(first_row, first_row + rows)[None, :]  # [1, r]
        length = np.asarray(lengths)[:, None]  # [S, 1]
        real = i < length  # [S, r]
        positive = a > 0
        self.add(
            "entropy", -np.where(positive, a * np.log(np.where(positive, a, 1.0)), 0.0).sum(axis=2), real
        )
        self.add("distance", (a * np.abs(i[..., None] - np.arange(width))).sum(axis=2), real)
        self.add("previous", _diagonal(a, first_row, -1), real & (i >= 1))
        self.add("next", _diagonal(a, first_row, 1), real & (i <= length - 2))
        self.add("self", _diagonal(a, first_row, 0), real)
        self.add("first", a[:, :, 0], real & (i >= 1))
        self.add("sparsity", _keys_for_mass(a), real)

    def means(self) -> dict[str, float]:
        return {
            name: total / self.counts[name] if self.counts[name] else float("nan")
            for name, total in self.sums.items()
        }


def head_metrics(
    q: np.ndarray,
    k: np.ndarray,
    starts: np.ndarray,
    lengths: np.ndarray,
    layer: LayerInfo,
) -> dict[str, Any]:
    """The metrics of one head, from its queries and its KV group's keys ([N, D] each) and the
    sequences' first tokens and lengths."""
    sums = RowSums()
    for members, first, stop in _blocks(np.asarray(lengths, dtype=np.int64)):
        width = int(lengths[members].max())
        positions = np.arange(width)
        inside = positions[None, :] < lengths[members][:, None]  # [S, L]
        tokens = np.asarray(starts)[members][:, None] + np.where(inside, positions[None, :], 0)  # [S, L]
        block = attention_from_qk(
            np.asarray(q)[tokens[:, first:stop]],  # [S, r, D]
            np.asarray(k)[tokens],  # [S, L, D]
            layer,
            first_row=first,
            lengths=lengths[members],
        )
        sums.add_block(block, first, lengths[members])
    metrics: dict[str, Any] = sums.means()
    q_norm = float(np.linalg.norm(np.asarray(q, dtype=np.float64), axis=1).mean())
    k_norm = float(np.linalg.norm(np.asarray(k, dtype=np.float64), axis=1).mean())
    metrics.update(q_norm=q_norm, k_norm=k_norm, gap=q_norm - k_norm)
    return metrics


def _blocks(lengths: np.ndarray) -> Iterator[tuple[np.ndarray, int, int]]:
    """(sequences, first row, stop row): groups of similar length, in blocks of rows of at most BLOCK_ENTRIES."""
    order = np.argsort(lengths, kind="stable")
    start = 0
    while start < len(order):
        stop = start + 1
        while (
            stop < len(order)
            and lengths[order[stop]] <= GROWTH * lengths[order[start]]
            and (stop + 1 - start) * int(lengths[order[stop]]) ** 2 <= BLOCK_ENTRIES
        ):
            stop += 1
        members = order[start:stop]
        width = int(lengths[members].max())
        rows = max(1, BLOCK_ENTRIES // (len(members) * width))
        for first in range(0, width, rows):
            yield members, first, min(width, first + rows)
        start = stop


def _diagonal(a: np.ndarray, first_row: int, offset: int) -> np.ndarray:
    """[S, r]: a[s, i, i + offset] for the block's rows i (0 where that key lies outside)."""
    rows, width = a.shape[1], a.shape[2]
    j = np.arange(first_row, first_row + rows) + offset
    inside = (j >= 0) & (j < width)
    values = np.zeros(a.shape[:2])
    values[:, inside] = a[:, np.flatnonzero(inside), j[inside]]
    return values


def _keys_for_mass(a: np.ndarray, mass: float = MASS) -> np.ndarray:
    """[S, r] the fewest keys whose attention adds up to `mass` of each row's total."""
    ordered = -np.sort(-a, axis=2)  # largest weight first
    before = np.cumsum(ordered, axis=2) - ordered  # mass of the larger keys
    totals = ordered.sum(axis=2, keepdims=True)
    needed: np.ndarray = (before < mass * totals - 1e-7).sum(axis=2)
    return needed
