"""Write a run folder: resumable, atomic, memory-bounded.

A build writes into `RUN.partial/`: the token tables first (atomically), then preallocated `.npy`
arrays that are filled batch by batch, with the finished batch ids recorded in `build-state.json`
after each batch. A killed build resumes from that record (re-writing a batch is idempotent). When
every batch is done, the arrays computed over the whole corpus (the aggregate) are written whole,
then checksums and the manifest, and the folder is renamed to `RUN`, so a reader never sees a
half-written run.

The arrays are head-major ([heads, tokens, ...]) for the readers, and the capture numbers its
sequences in batch order, so one batch of one head is one contiguous byte range (`array_file`),
written through the page cache by the capture's own thread. Nothing is memory-mapped while
writing, so the build's resident memory is its batch, not the run.

(Until schema 2 a run also stored every sequence's attention, O(len**2), and the writer had direct
I/O, a write-behind thread and partial-sector bookkeeping to keep up with it. With attention
derived from q and k, they bought less than 5 points of capture overhead: `benchmarks/capture.py`.)
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
from attentionviz.store import names
from attentionviz.store.array_file import ArrayFile
from attentionviz.store.arrays import BY_NAME as KINDS
from attentionviz.store.arrays import ArraySpec, kind_of
from attentionviz.store.atomic import load_npy, read_json, write_json, write_npy
from attentionviz.store.manifest import Manifest, save_manifest

log = logging.getLogger(__name__)


class CaptureWriter:
    """Preallocated arrays in a staging folder, filled batch by batch; whole arrays written at the end."""

    def __init__(
        self, staging: Path, specs: dict[str, ArraySpec], *, state_key: str, n_batches: int = 1
    ) -> None:
        self.staging = staging
        self.specs = specs
        self.state_key = state_key
        self.state_path = staging / names.BUILD_STATE
        state = read_json(self.state_path) if self.state_path.exists() else {}
        resume = isinstance(state, dict) and state.get("key") == state_key
        capture_dir = staging / names.CAPTURE_DIR
        capture_dir.mkdir(parents=True, exist_ok=True)
        self.files = {
            name: ArrayFile(names.array_path(staging, name), spec.shape, spec.stored, reuse=resume)
            for name, spec in specs.items()
            if KINDS[kind_of(name)].streamed
        }
        self.done: frozenset[int] = frozenset()  # the batches an earlier run finished
        if resume and all(f.reused for f in self.files.values()):
            self.done = frozenset(state["done"])
        self._recorded = set(self.done)
        self._save_state()
        log.debug("%d arrays of %d batches (%d done before)", len(self.files), n_batches, len(self.done))

    def empty_block(self, name: str, start: int, n: int) -> np.ndarray:
        """An uninitialised [heads, n, ...] block for rows start..start+n of `name`."""
        return self.files[name].empty_block(n)

    def write_block(self, name: str, block: np.ndarray, start: int) -> None:
        """Write one layer's batch: `block` is [heads, n, ...] for token rows start..start+n."""
        self.files[name].write_block(block, start)

    def mark_done(self, batch: int) -> None:
        """The running batch has written all its blocks: record it, so a resumed build skips it."""
        self._recorded.add(batch)
        self._save_state()

    def read(self, name: str) -> np.ndarray:
        """What has been written of a streamed array so far (a read-only memory map)."""
        return load_npy(self.files[name].path)

    def write_whole(self, name: str, array: np.ndarray) -> None:
        """Write an array computed over the whole capture (atomically)."""
        spec = self.specs[name]
        if array.shape != spec.shape:
            raise ValueError(f"{name} is {array.shape}, not {spec.shape}")
        write_npy(names.array_path(self.staging, name), np.asarray(array, dtype=spec.stored))

    def _save_state(self) -> None:
        # Not fsynced: it guards against an interrupted process (whose writes the page cache or the
        # disk keeps), and syncing it without syncing the arrays first would not make it power-safe.
        write_json(self.state_path, {"key": self.state_key, "done": sorted(self._recorded)}, durable=False)

    def sync(self) -> None:
        """Make every array durable: the manifest, written after this, must never describe data
        that is still only in memory (the whole arrays were synced as they were written)."""
        for f in self.files.values():
            f.sync()

    def checksums(self) -> dict[str, dict[str, Any]]:
        """Describe every (synced) array for the manifest: shape, dtype, sha256 of the file."""
        return {
            name: {
                "shape": list(spec.shape),
                "dtype": spec.dtype,
                "sha256": sha256_file(names.array_path(self.staging, name)),
            }
            for name, spec in self.specs.items()
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
