"""One captured array on disk: a preallocated float32 `.npy` file, [heads, length, *row], written by offset.

A batch fills rows start..start+n of every head: one byte range per head. With direct I/O
(`direct`) a range's whole sectors are queued for the write-behind thread (`write_behind`) straight
from where the block lies, and its partial end sectors once the neighbouring blocks have filled
them in (`PartialSectors`); the writer tracks which batches are on disk by the sectors they still
wait for. Through the page cache, a range is written at once: that copy is CPU work, and beside
the model on another thread it would stall the model's two-thread kernels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from attentionviz.linux import start_writeback
from attentionviz.store.direct import PartialSectors, aligned_empty
from attentionviz.store.write_behind import WriteBehind, pwrite_all

DTYPE = np.dtype("<f4")


@dataclass
class Written:
    """What queueing a block did, in sectors: those it left partial, those it made whole."""

    pending: set[int] = field(default_factory=set)
    whole: set[int] = field(default_factory=set)

    def update(self, other: Written) -> None:
        self.pending |= other.pending
        self.whole |= other.whole


class ArrayFile:
    """One preallocated `.npy` file written by offset: [heads, length, *row] float32."""

    def __init__(
        self, path: Path, shape: tuple[int, ...], *, reuse: bool, behind: WriteBehind, align: int
    ) -> None:
        """`align` > 1: direct I/O in sectors of `align` bytes; 1: through the page cache."""
        self.path = path
        self.shape = shape
        header = npy_header(path) if reuse else None
        self.reused = header is not None and header[0] == shape
        self.data_offset = header[1] if header is not None and self.reused else _create_npy(path, shape)
        self.row_bytes = int(np.prod(shape[2:], dtype=np.int64)) * DTYPE.itemsize
        self.span = head_bytes(shape)
        self.size = self.data_offset + shape[0] * self.span
        self.behind = behind
        self.align = align
        self.partial = PartialSectors(align)
        self.fd = os.open(path, os.O_RDWR | (os.O_DIRECT if align > 1 else 0))
        if align > 1:  # the header and what lies past the end fill their sectors' other parts
            pieces: list[tuple[int, memoryview]] = []
            with path.open("rb") as handle:
                self._put(0, memoryview(handle.read(self.data_offset)), pieces)
            if self.size % align:
                self._put(self.size, memoryview(bytes(align - self.size % align)), pieces)
            self.behind.write(self.fd, pieces)

    def empty_block(self, start: int, n: int) -> np.ndarray:
        """An uninitialised [heads, n, *row] block for rows start..start+n, laid out for `write_block`.

        Each head's rows are contiguous at an address congruent to their file offset modulo
        `align`, so their whole sectors can be written from where they are.
        """
        length = n * self.row_bytes
        lead = (self.data_offset + start * self.row_bytes) % self.align
        stride = length + (self.span - length) % self.align  # congruent to the head span
        buffer = aligned_empty(lead + (self.shape[0] - 1) * stride + length, align=self.align)
        row_strides = np.empty((n, *self.shape[2:]), dtype=DTYPE).strides
        return np.ndarray(
            (self.shape[0], n, *self.shape[2:]),
            dtype=DTYPE,
            buffer=buffer,
            offset=lead,
            strides=(stride, *row_strides),
        )

    def write_block(self, block: np.ndarray, start: int) -> Written:
        """Queue `block` [heads, n, *row] for rows start..start+n of every head."""
        n = block.shape[1]
        if block.shape[0] != self.shape[0] or block.shape[2:] != self.shape[2:]:
            raise ValueError(f"block {block.shape} does not fit {self.path.name} {self.shape}")
        if start < 0 or start + n > self.shape[1]:
            raise ValueError(f"rows {start}..{start + n} outside {self.path.name} {self.shape}")
        first = self.data_offset + start * self.row_bytes
        if not self._in_place(block, first):
            placed = self.empty_block(start, n)
            placed[...] = block
            block = placed
        written = Written()
        pieces: list[tuple[int, memoryview]] = []
        for head in range(block.shape[0]):
            written.update(self._put(first + head * self.span, block[head].data.cast("B"), pieces))
        self.behind.write(self.fd, pieces)
        if self.align == 1:  # one call for every head's range (and the rows between, written already)
            start_writeback(self.fd, first, (block.shape[0] - 1) * self.span + n * self.row_bytes)
        return written

    def finish(self) -> Written:
        """Complete every partial sector from the file (rows an earlier run wrote) and queue it."""
        written = Written()
        pieces: list[tuple[int, memoryview]] = []
        for index, sector in sorted(self.partial.sectors.items()):
            on_disk = aligned_empty(self.align, align=self.align)
            got = os.preadv(self.fd, [on_disk.data], index * self.align)
            on_disk[got:] = 0
            for start, end in sector.gaps():
                sector.data[start:end] = on_disk[start:end]
            pieces.append((index * self.align, sector.data.data))
            written.whole.add(index)
        self.partial.sectors.clear()
        self.behind.write(self.fd, pieces)
        return written

    def sync(self) -> None:
        """Drop what whole-sector writes put past the end, and make the file durable."""
        os.ftruncate(self.fd, self.size)
        os.fdatasync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _in_place(self, block: np.ndarray, first: int) -> bool:
        """Whether `block` is float32 with each head contiguous at an address fit for `first`."""
        heads = range(block.shape[0])
        if block.dtype != DTYPE or not all(block[head].flags.c_contiguous for head in heads):
            return False
        return all((block[head].ctypes.data - first - head * self.span) % self.align == 0 for head in heads)

    def _put(self, offset: int, data: memoryview, pieces: list[tuple[int, memoryview]]) -> Written:
        """Write `data` at `offset`, or with direct I/O add to `pieces` what of it fills whole sectors.

        With direct I/O, its partial end sectors are kept until other blocks fill them in.
        """
        if self.align == 1:  # the page cache: its copy is CPU work, done here between the model's steps
            pwrite_all(self.fd, data, offset)
            return Written()
        end = offset + data.nbytes
        low = -(-offset // self.align) * self.align
        high = end // self.align * self.align
        if low < high:
            pieces.append((low, data[low - offset : high - offset]))
        written = Written()
        for piece_start, piece_end in [(offset, low), (high, end)] if low <= high else [(offset, end)]:
            if piece_start == piece_end:
                continue
            sector = piece_start // self.align
            filled = self.partial.fill(piece_start, data[piece_start - offset : piece_end - offset])
            if filled is None:
                written.pending.add(sector)
            else:
                pieces.append((sector * self.align, filled.data))
                written.whole.add(sector)
        return written


def head_bytes(shape: tuple[int, ...]) -> int:
    """Bytes per head of a [heads, length, *row] float32 array."""
    return int(np.prod(shape[1:], dtype=np.int64)) * DTYPE.itemsize


def npy_header(path: Path) -> tuple[tuple[int, ...], int] | None:
    """(shape, offset of the data) of a C-ordered float32 `.npy` file; None when it is not one."""
    try:
        with path.open("rb") as handle:
            np.lib.format.read_magic(handle)
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            offset = handle.tell()
    except (OSError, ValueError):
        return None
    if fortran or np.dtype(dtype) != DTYPE:
        return None
    return tuple(shape), offset


def _create_npy(path: Path, shape: tuple[int, ...]) -> int:
    """A version 1.0 `.npy` header followed by a sparse, zero-filled body of the full size.

    Returns the offset of the data.
    """
    with path.open("wb") as handle:
        np.lib.format.write_array_header_1_0(
            handle, {"descr": DTYPE.str, "fortran_order": False, "shape": shape}
        )
        offset = handle.tell()
        handle.truncate(offset + int(np.prod(shape, dtype=np.int64)) * DTYPE.itemsize)
    return offset
