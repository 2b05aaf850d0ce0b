"""Write a run folder: resumable, atomic, memory-bounded.

A build writes into `RUN.partial/`: the token tables first (atomically), then preallocated `.npy`
arrays that are filled batch by batch, with the finished batch ids recorded in `build-state.json`
after each batch. A killed build resumes from that record (re-writing a batch is idempotent). When
every batch is done, checksums and the manifest are written and the folder is renamed to `RUN`, so
a reader never sees a half-written run.

The arrays are head-major ([heads, tokens, ...]) for the readers, and the capture numbers its
sequences in batch order, so one batch of one head is one contiguous byte range (`array_file`).
The capture packs each layer's batch into a block laid out for its file and queues it; a thread
writes it while the model computes on (`write_behind`). Arrays with large blocks are written with
direct I/O, which leaves the CPU to the model (`direct`); the others go through the page cache,
with writeback started as each block lands (`sync_file_range`), so a build of gigabytes never
piles up enough dirty pages for the kernel to throttle it. Nothing is memory-mapped while writing,
so the build's resident memory is its batch (and at most 64 MB of queued blocks), not the run.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from attentionviz.errors import AttentionVizError
from attentionviz.hashing import sha256_file
from attentionviz.store import names
from attentionviz.store.array_file import ArrayFile, Written, head_bytes
from attentionviz.store.atomic import read_json, write_json
from attentionviz.store.direct import ALIGN, direct_io_works
from attentionviz.store.direct import always as direct_io_always
from attentionviz.store.manifest import Manifest, save_manifest
from attentionviz.store.write_behind import WriteBehind

log = logging.getLogger(__name__)

# Direct I/O for an array whose batches average at least this much per head. A direct write costs
# about 80 us of CPU however small it is (interrupts, VM exits), ~0.3 s per GB at 256 kB blocks;
# the page cache costs as much or more (MiniLM, 50k tokens, ~256 kB blocks: +14.4% over the plain
# pass direct, +17.5% through the page cache). Smaller blocks (value norms, tiny builds) go through
# the page cache: they would also share sectors with several neighbours and hold back the record
# of finished batches.
DIRECT_MIN_BYTES = 64 << 10


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


class CaptureWriter:
    """Preallocated arrays in a staging folder, filled batch by batch.

    A batch counts as done (and is recorded in the build state, so a resumed build skips it) once
    every byte of it is written: with direct I/O the sectors a batch shares with batches not yet
    run wait for them, so the record trails the capture by a batch or two.
    """

    def __init__(
        self,
        staging: Path,
        shapes: dict[str, tuple[int, ...]],
        *,
        state_key: str,
        n_batches: int = 1,
        direct: bool | None = None,
        direct_min_bytes: int | None = None,
    ) -> None:
        """`direct`: None probes the folder; `direct_min_bytes`: None takes `DIRECT_MIN_BYTES` (or 0, by setting)."""
        self.staging = staging
        self.shapes = shapes
        self.state_key = state_key
        self.state_path = staging / names.BUILD_STATE
        state = read_json(self.state_path) if self.state_path.exists() else {}
        resume = isinstance(state, dict) and state.get("key") == state_key
        capture_dir = staging / names.CAPTURE_DIR
        capture_dir.mkdir(parents=True, exist_ok=True)
        self.direct = direct_io_works(capture_dir) if direct is None else direct
        self.behind = WriteBehind()
        if direct_min_bytes is None:
            direct_min_bytes = 0 if direct_io_always() else DIRECT_MIN_BYTES
        direct_names = {
            name
            for name, shape in shapes.items()
            if self.direct and head_bytes(shape) >= direct_min_bytes * n_batches
        }
        self.files = {
            name: ArrayFile(
                names.array_path(staging, name),
                shape,
                reuse=resume,
                behind=self.behind,
                align=ALIGN if name in direct_names else 1,
            )
            for name, shape in shapes.items()
        }
        log.debug(
            "%d arrays written with direct I/O, %d through the page cache",
            len(direct_names),
            len(shapes) - len(direct_names),
        )
        self.done: frozenset[int] = frozenset()  # the batches an earlier run finished
        if resume and all(f.reused for f in self.files.values()):
            self.done = frozenset(state["done"])
        self._recorded = set(self.done)  # finished batches, as the writer thread records them
        self._batch_waits: set[tuple[str, int]] = set()  # what the running batch waits for
        self._waiting: dict[int, set[tuple[str, int]]] = {}  # batch -> what it waits for
        self._save_state()

    def empty_block(self, name: str, start: int, n: int) -> np.ndarray:
        """An uninitialised [heads, n, ...] block for `write_block(name, block, start)` to write in place."""
        return self.files[name].empty_block(start, n)

    def write_block(self, name: str, block: np.ndarray, start: int) -> None:
        """Queue one layer's batch: `block` is [heads, n, ...] for rows start..start+n.

        Token arrays are indexed by global token, attention arrays by offset in the flattened
        per-sequence [n, n] matrices. `block` must not change until the writes are done: fill a
        fresh `empty_block` for each call.
        """
        self._settle(name, self.files[name].write_block(block, start))

    def mark_done(self, batch: int) -> None:
        """The running batch has queued all its blocks: record it once they are all written."""
        waits, self._batch_waits = self._batch_waits, set()
        if waits:
            self._waiting[batch] = waits
        else:
            self.behind.then(functools.partial(self._record, batch))

    def _settle(self, name: str, written: Written) -> None:
        """Update what every batch waits for; queue the record of those that wait for nothing."""
        whole = {(name, sector) for sector in written.whole}
        self._batch_waits |= {(name, sector) for sector in written.pending}
        self._batch_waits -= whole
        for batch, waits in list(self._waiting.items()):
            waits -= whole
            if not waits:
                del self._waiting[batch]
                self.behind.then(functools.partial(self._record, batch))

    def _record(self, batch: int) -> None:
        """On the writer thread, after the batch's last write."""
        self._recorded.add(batch)
        self._save_state()

    def _save_state(self) -> None:
        # Not fsynced: it guards against an interrupted process (whose writes the page cache or the
        # disk keeps), and syncing it without syncing the arrays first would not make it power-safe.
        write_json(self.state_path, {"key": self.state_key, "done": sorted(self._recorded)}, durable=False)

    def sync(self) -> None:
        """Write everything still pending and make every array durable.

        The manifest, written after this, must never describe data that is still only in memory.
        """
        for name, f in self.files.items():
            self._settle(name, f.finish())
        self.behind.drain()
        if self._waiting:
            raise RuntimeError(
                f"internal error: batches {sorted(self._waiting)} were never completely written"
            )
        for f in self.files.values():
            f.sync()

    def checksums(self) -> dict[str, dict[str, Any]]:
        """Describe every (synced) array for the manifest: shape, dtype, sha256 of the file."""
        return {
            name: {"shape": list(f.shape), "dtype": "float32", "sha256": sha256_file(f.path)}
            for name, f in self.files.items()
        }

    def close(self) -> None:
        """End the writer thread (dropping unwritten blocks after a failure) and close the files."""
        self.behind.close(abandon=True)
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
