"""One padded batch -> the run's contiguous rows: [B, heads, S, ...] -> [heads, real rows, ...].

The capture numbers its sequences in batch order, so a batch's real tokens (and real query-key
pairs) are one contiguous range of every head's array. Batches group sequences of similar length,
so a batch is a few runs of consecutive sequences of equal length; each run is copied straight
into place with one strided copy (a flat-index gather would first have to copy the head-major
view of the weights, then gather it: twice the memory traffic).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Run:
    """Consecutive batch rows `first`..`first + count` whose sequences all have `length` tokens."""

    first: int
    count: int
    length: int


@dataclass(frozen=True)
class BatchRows:
    """Where one batch goes: its first token row and attention offset, and its runs of lengths."""

    size: int  # the padded length: the longest sequence of the batch
    token_start: int
    attn_start: int
    runs: tuple[Run, ...]

    @classmethod
    def of(cls, lengths: list[int], *, token_start: int, attn_start: int) -> BatchRows:
        """The rows of a batch whose sequences have `lengths`, right-padded to the longest."""
        runs: list[Run] = []
        for row, length in enumerate(lengths):
            if runs and runs[-1].length == length:
                runs[-1] = Run(runs[-1].first, runs[-1].count + 1, length)
            else:
                runs.append(Run(row, 1, length))
        return cls(max(lengths), token_start, attn_start, tuple(runs))

    @property
    def n_tokens(self) -> int:
        """The batch's real tokens: the rows `tokens` packs per head."""
        return sum(run.count * run.length for run in self.runs)

    @property
    def n_pairs(self) -> int:
        """The batch's real query-key pairs: the entries `pairs` packs per head."""
        return sum(run.count * run.length**2 for run in self.runs)

    def tokens(self, tensor: torch.Tensor, out: np.ndarray | None = None) -> np.ndarray:
        """[B, heads, S, *row] -> [heads, real tokens of the batch, *row] in batch order (into `out`)."""
        if out is None:
            out = np.empty((tensor.shape[1], self.n_tokens, *tensor.shape[3:]), dtype=np.float32)
        self._pack(tensor, lambda run: tensor[run.first : run.first + run.count, :, : run.length], out)
        return out

    def pairs(self, tensor: torch.Tensor, out: np.ndarray | None = None) -> np.ndarray:
        """[B, heads, S, S] -> [heads, real query-key pairs of the batch] in batch order (into `out`)."""
        if out is None:
            out = np.empty((tensor.shape[1], self.n_pairs), dtype=np.float32)
        self._pack(
            tensor, lambda run: tensor[run.first : run.first + run.count, :, : run.length, : run.length], out
        )
        return out

    def _pack(self, tensor: torch.Tensor, piece: Callable[[Run], torch.Tensor], out: np.ndarray) -> None:
        """Copy each run's `piece` ([count, heads, ...], a view) once into its place in `out`.

        `out` is [heads, entries, ...] float32 with each head's entries contiguous (heads may lie
        apart, as the writer's aligned blocks do).
        """
        import torch

        self._check(tensor)
        views = [piece(run).transpose(0, 1) for run in self.runs]  # [heads, count, ...]
        sizes = [view[0].numel() for view in views]
        if out.shape[0] != tensor.shape[1] or out[0].size != sum(sizes):
            raise ValueError(
                f"a block of {out.shape} cannot hold {tensor.shape[1]} heads of {sum(sizes)} entries"
            )
        flat = np.lib.stride_tricks.as_strided(
            out, (out.shape[0], sum(sizes)), (out.strides[0], out.itemsize)
        )
        target = torch.from_numpy(flat)  # [heads, entries]
        at = 0
        for view, n in zip(views, sizes, strict=True):
            target[:, at : at + n].view(view.shape).copy_(view)
            at += n

    def _check(self, tensor: torch.Tensor) -> None:
        if tensor.shape[2] != self.size:
            raise ValueError(f"the model ran {tensor.shape[2]} positions for a batch padded to {self.size}")
