"""One captured array on disk: a preallocated `.npy` file, [heads, length, *row], written by offset.

A batch fills rows start..start+n of every head: one byte range per head, written with `pwrite`
through the page cache, on the capture's own thread between the model's steps, with writeback
started at once (`linux.start_writeback`) so that dirty pages never pile up and the final
`fdatasync` has little left to do.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from attentionviz.linux import start_writeback


class ArrayFile:
    """One preallocated `.npy` file written by offset: [heads, length, *row] of `dtype`."""

    def __init__(self, path: Path, shape: tuple[int, ...], dtype: np.dtype[Any], *, reuse: bool) -> None:
        self.path = path
        self.shape = shape
        self.dtype = np.dtype(dtype)
        header = npy_header(path) if reuse else None
        self.reused = header is not None and header[:2] == (shape, self.dtype)
        self.data_offset = (
            header[2] if header is not None and self.reused else _create_npy(path, shape, self.dtype)
        )
        self.row_bytes = int(np.prod(shape[2:], dtype=np.int64)) * self.dtype.itemsize
        self.span = int(np.prod(shape[1:], dtype=np.int64)) * self.dtype.itemsize  # bytes per head
        self.fd = os.open(path, os.O_RDWR)

    def empty_block(self, n: int) -> np.ndarray:
        """An uninitialised [heads, n, *row] block for `write_block`."""
        return np.empty((self.shape[0], n, *self.shape[2:]), dtype=self.dtype)

    def write_block(self, block: np.ndarray, start: int) -> None:
        """Write `block` [heads, n, *row] to rows start..start+n of every head."""
        n = block.shape[1]
        if block.shape[0] != self.shape[0] or block.shape[2:] != self.shape[2:]:
            raise ValueError(f"block {block.shape} does not fit {self.path.name} {self.shape}")
        if start < 0 or start + n > self.shape[1]:
            raise ValueError(f"rows {start}..{start + n} outside {self.path.name} {self.shape}")
        block = np.asarray(block, dtype=self.dtype)
        first = self.data_offset + start * self.row_bytes
        for head in range(block.shape[0]):
            data = np.ascontiguousarray(block[head]).data.cast("B")
            offset = first + head * self.span
            while data:  # pwrite may write less than asked
                written = os.pwrite(self.fd, data, offset)
                data, offset = data[written:], offset + written
        # one call for every head's range (and the rows between, written already)
        start_writeback(self.fd, first, (block.shape[0] - 1) * self.span + n * self.row_bytes)

    def sync(self) -> None:
        os.fdatasync(self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype[Any], int] | None:
    """(shape, dtype, offset of the data) of a C-ordered `.npy` file; None when it is not one."""
    try:
        with path.open("rb") as handle:
            np.lib.format.read_magic(handle)
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(handle)
            offset = handle.tell()
    except (OSError, ValueError):
        return None
    if fortran:
        return None
    return tuple(shape), np.dtype(dtype), offset


def _create_npy(path: Path, shape: tuple[int, ...], dtype: np.dtype[Any]) -> int:
    """A version 1.0 `.npy` header followed by a sparse, zero-filled body of the full size.

    Returns the offset of the data.
    """
    with path.open("wb") as handle:
        np.lib.format.write_array_header_1_0(
            handle, {"descr": dtype.str, "fortran_order": False, "shape": shape}
        )
        offset = handle.tell()
        handle.truncate(offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize)
    return offset
