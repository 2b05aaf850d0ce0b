"""One padded batch -> the run's contiguous rows: [B, heads, S, ...] -> [heads, real rows, ...].

The capture numbers its sequences in batch order, so a batch's real tokens are one contiguous
range of every head's array. Batches group sequences of similar length, so a batch is a few runs
of consecutive sequences of equal length; each run is copied straight into place with one strided
copy (a flat-index gather would first have to copy the head-major view, then gather it: twice the
memory traffic). bfloat16 tensors are copied as their bit patterns (numpy has no bfloat16).
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
    """Where one batch goes: its first token row, and its runs of lengths."""

    size: int  # the padded length: the longest sequence of the batch
    token_start: int
    runs: tuple[Run, ...]

    @classmethod
    def of(cls, lengths: list[int], *, token_start: int) -> BatchRows:
        """The rows of a batch whose sequences have `lengths`, right-padded to the longest."""
        runs: list[Run] = []
        for row, length in enumerate(lengths):
            if runs and runs[-1].length == length:
                runs[-1] = Run(runs[-1].first, runs[-1].count + 1, length)
            else:
                runs.append(Run(row, 1, length))
        return cls(max(lengths), token_start, tuple(runs))

    @property
    def n_tokens(self) -> int:
        """The batch's real tokens: the rows `tokens` packs per head."""
        return sum(run.count * run.length for run in self.runs)

    def tokens(self, tensor: torch.Tensor, out: np.ndarray | None = None) -> np.ndarray:
        """[B, heads, S, *row] -> [heads, real tokens of the batch, *row] in batch order (into `out`).

        `out` holds the tensor's dtype (uint16 bit patterns for bfloat16); by default a new array.
        """
        import torch

        bits = tensor.dtype == torch.bfloat16
        if out is None:
            dtype = np.uint16 if bits else torch.empty(0, dtype=tensor.dtype).numpy().dtype
            out = np.empty((tensor.shape[1], self.n_tokens, *tensor.shape[3:]), dtype=dtype)
        source = tensor.view(torch.int16) if bits else tensor  # bfloat16: copy the bits
        self._pack(
            lambda run: source[run.first : run.first + run.count, :, : run.length],
            out.view(np.int16) if bits else out,
            heads=tensor.shape[1],
            size=tensor.shape[2],
        )
        return out

    def _pack(self, piece: Callable[[Run], torch.Tensor], out: np.ndarray, *, heads: int, size: int) -> None:
        """Copy each run's `piece` ([count, heads, ...], a view) once into its place in `out`.

        `out` is [heads, entries, ...] of the pieces' dtype, each head's entries contiguous (heads
        may lie apart).
        """
        if size != self.size:
            raise ValueError(f"the model ran {size} positions for a batch padded to {self.size}")
        # numpy views of the tensor: numpy copies on this thread, where torch's copy would fan out to
        # its thread pool (and wait for it) once per run
        views = [piece(run).transpose(0, 1).numpy() for run in self.runs]  # [heads, count, ...]
        sizes = [view[0].size for view in views]
        if out.shape[0] != heads or out[0].size != sum(sizes):
            raise ValueError(f"a block of {out.shape} cannot hold {heads} heads of {sum(sizes)} entries")
        flat = np.lib.stride_tricks.as_strided(
            out, (out.shape[0], sum(sizes)), (out.strides[0], out.itemsize)
        )  # [heads, entries]
        at = 0
        for view, n in zip(views, sizes, strict=True):
            flat[:, at : at + n].reshape(view.shape)[...] = view
            at += n
