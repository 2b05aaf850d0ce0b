"""The aggregate attention of every head, summed while the capture runs and stored once.

    aggregate[h, i, j] = mean over the sequences holding positions i and j of a_s[h, i, j]

for the first P = min(longest sequence, 256) positions (`store.arrays.aggregate_positions`), so it stays bounded
(layers x heads x P x P float32: at most 71 MB for SmolLM2's 30 x 9 heads) however long the
sequences are. The capture function hands each layer's [B, H, a, a] top-left corner of the weights
it computed anyway, and `add` sums each sequence's own crop; the counts follow from the lengths
(`store.recompute.aggregate_counts`). Batches a resumed build does not rerun are added from their
stored queries and keys instead (`add_derived`), through the same function that serves attention.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from attentionviz.capture.packing import BatchRows
from attentionviz.store.manifest import LayerInfo
from attentionviz.store.recompute import aggregate_counts, attention_from_qk

if TYPE_CHECKING:
    import torch


class AggregateSums:
    """Per layer, [heads, P, P] float64 sums of every sequence's attention over its first P positions."""

    def __init__(self, n_layers: int, n_heads: int, positions: int) -> None:
        self.positions = positions
        self.sums = np.zeros((n_layers, n_heads, positions, positions), dtype=np.float64)

    def add(self, layer: int, corner: torch.Tensor, rows: BatchRows) -> None:
        """Add one batch's [B, H, a, a] weights corner, each sequence cropped to its own length.

        One numpy sum per run of equal lengths, on this thread (torch's reductions fan out to its
        thread pool once per call; an einsum weighting padded rows 0 read the corner more slowly).
        """
        weights = corner.numpy()
        for run in rows.runs:
            m = min(run.length, self.positions)
            self.sums[layer, :, :m, :m] += weights[run.first : run.first + run.count, :, :m, :m].sum(axis=0)

    def add_derived(
        self,
        layer: int,
        info: LayerInfo,
        rows_of: Callable[[str, int, int], np.ndarray],
        kv_map: tuple[int, ...],
        spans: list[tuple[int, int]],
    ) -> None:
        """Add sequences (token start, length) from their stored vectors: `rows_of(kind, start, stop)`
        gives [heads, stop - start, D] floats of array `kind` ("q" or "k")."""
        for start, length in spans:
            m = min(length, self.positions)
            q = rows_of("q", start, start + m)  # [H, m, D]
            k = rows_of("k", start, start + length)[list(kv_map)]  # [H, len, D]
            self.sums[layer, :, :m, :m] += attention_from_qk(q, k, info)[:, :, :m]

    def means(self, layer: int, lengths: np.ndarray) -> np.ndarray:
        """[heads, P, P] float32 means of layer `layer` (0 where no sequence holds both positions)."""
        counts = aggregate_counts(lengths, self.positions)
        mean: np.ndarray = np.divide(
            self.sums[layer], counts, out=np.zeros_like(self.sums[layer]), where=counts > 0
        )
        return mean.astype(np.float32)
