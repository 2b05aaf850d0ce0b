"""Write a run folder: resumable, atomic, memory-bounded.

A build writes into `RUN.partial/`: the token tables first (atomically), then preallocated `.npy`
arrays that are filled batch by batch, with the finished batch ids recorded in `build-state.json`
after each batch. A killed build resumes from that record (re-writing a batch is idempotent). When
every batch is done, checksums and the manifest are written and the folder is renamed to `RUN`, so
a reader never sees a half-written run.

The arrays are head-major ([heads, tokens, ...]) for the readers, and the capture numbers its
sequences in batch order, so one batch of one head is one contiguous byte range: each is written
with a single `pwrite`. Nothing is memory-mapped while writing, so the build's resident memory is
its batch, not the run (the written pages are the kernel's page cache). Writeback of each block
starts as soon as it lands (`sync_file_range`), so a build of gigabytes never piles up enough
dirty pages for the kernel to throttle its writes, and the final `fdatasync` has little left to do.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from attentionviz.errors import AttentionVizError
from attentionviz.hashing import sha256_file
from attentionviz.linux import start_writeback
from attentionviz.store import names
from attentionviz.store.atomic import read_json, write_json
from attentionviz.store.manifest import Manifest, save_manifest

log = logging.getLogger(__name__)

DTYPE = np.dtype("<f4")


def array_shapes(
    *,
    n_layers: int,
    n_heads: int,
    n_kv_heads: int,
    head_dim: int,
    n_tokens: int,
    attn_size: int,
    pre_rope: bool,
) -> dict[str, tuple[int, ...]]:
    """Dotted name -> shape of every captured array."""
    shapes: dict[str, tuple[int, ...]] = {}
    for layer in range(n_layers):
        shapes[names.array_name(layer, "q")] = (n_heads, n_tokens, head_dim)
        shapes[names.array_name(layer, "k")] = (n_kv_heads, n_tokens, head_dim)
        if pre_rope:
            shapes[names.array_name(layer, "q_pre_rope")] = (n_heads, n_tokens, head_dim)
            shapes[names.array_name(layer, "k_pre_rope")] = (n_kv_heads, n_tokens, head_dim)
        shapes[names.array_name(layer, "v_norm")] = (n_kv_heads, n_tokens)
        shapes[names.array_name(layer, "attention")] = (n_heads, attn_size)
    return shapes


class _ArrayFile:
    """One preallocated `.npy` file written by offset: [heads, length, *row] float32."""

    def __init__(self, path: Path, shape: tuple[int, ...], *, reuse: bool) -> None:
        self.path = path
        self.shape = shape
        header = _npy_header(path) if reuse else None
        self.reused = header is not None and header[0] == shape
        self.data_offset = header[1] if header is not None and self.reused else _create_npy(path, shape)
        self.fd = os.open(path, os.O_RDWR)
        self.row_bytes = int(np.prod(shape[2:], dtype=np.int64)) * DTYPE.itemsize

    def write_block(self, block: np.ndarray, start: int) -> None:
        """Write `block` [heads, n, *row] at rows start..start+n of every head."""
        if block.shape[0] != self.shape[0] or block.shape[2:] != self.shape[2:]:
            raise ValueError(f"block {block.shape} does not fit {self.path.name} {self.shape}")
        if start < 0 or start + block.shape[1] > self.shape[1]:
            raise ValueError(f"rows {start}..{start + block.shape[1]} outside {self.path.name} {self.shape}")
        block = np.ascontiguousarray(block, dtype=DTYPE)
        first = self.data_offset + start * self.row_bytes
        for head in range(block.shape[0]):
            offset = first + head * self.shape[1] * self.row_bytes
            data = memoryview(block[head]).cast("B")
            while data:
                written = os.pwrite(self.fd, data, offset)
                data, offset = data[written:], offset + written
        start_writeback(self.fd, first, offset - first)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _npy_header(path: Path) -> tuple[tuple[int, ...], int] | None:
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


class CaptureWriter:
    """Preallocated arrays in a staging folder, filled batch by batch."""

    def __init__(self, staging: Path, shapes: dict[str, tuple[int, ...]], *, state_key: str) -> None:
        self.staging = staging
        self.shapes = shapes
        self.state_key = state_key
        self.state_path = staging / names.BUILD_STATE
        self.done: set[int] = set()
        state = read_json(self.state_path) if self.state_path.exists() else {}
        resume = isinstance(state, dict) and state.get("key") == state_key
        (staging / names.CAPTURE_DIR).mkdir(parents=True, exist_ok=True)
        self.files = {
            name: _ArrayFile(names.array_path(staging, name), shape, reuse=resume)
            for name, shape in shapes.items()
        }
        if resume and all(f.reused for f in self.files.values()):
            self.done = set(state["done"])
        else:  # a recreated array holds none of the recorded batches
            self._save_state()

    def write_block(self, name: str, block: np.ndarray, start: int) -> None:
        """Copy one layer's batch into place: `block` is [heads, n, ...] for rows start..start+n.

        Token arrays are indexed by global token, attention arrays by offset in the flattened
        per-sequence [n, n] matrices.
        """
        self.files[name].write_block(block, start)

    def mark_done(self, batch: int) -> None:
        """Record a finished batch (its data is already in the files, i.e. in the page cache)."""
        self.done.add(batch)
        self._save_state()

    def _save_state(self) -> None:
        # Not fsynced: it guards against an interrupted process (whose writes the page cache keeps),
        # and syncing it without syncing the arrays first would not make it safe against power loss.
        write_json(self.state_path, {"key": self.state_key, "done": sorted(self.done)}, durable=False)

    def sync(self) -> None:
        """Make every array durable.

        The manifest, written after this, must never describe data that is still only in memory.
        """
        for f in self.files.values():
            os.fdatasync(f.fd)

    def checksums(self) -> dict[str, dict[str, Any]]:
        """Describe every (synced) array for the manifest: shape, dtype, sha256 of the file."""
        return {
            name: {"shape": list(f.shape), "dtype": "float32", "sha256": sha256_file(f.path)}
            for name, f in self.files.items()
        }

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def publish(staging: Path, run_dir: Path, manifest: Manifest) -> None:
    """Write the manifest, drop the build state, and rename the staging folder onto `run_dir`."""
    save_manifest(staging, manifest)
    (staging / names.BUILD_STATE).unlink(missing_ok=True)
    if run_dir.exists():
        if any(run_dir.iterdir()):
            raise AttentionVizError(
                f"{run_dir} appeared while building and is not empty; the finished run is in {staging}"
            )
        run_dir.rmdir()
    os.replace(staging, run_dir)
    log.info("run published at %s", run_dir)


def discard(staging: Path) -> None:
    shutil.rmtree(staging, ignore_errors=True)
