"""Write a run folder: resumable, atomic, memory-bounded.

A build writes into `RUN.partial/`: the token tables first (atomically), then preallocated
memory-mapped arrays that are filled batch by batch, with the finished batch ids recorded in
`build-state.json` after each batch. A killed build resumes from that record (re-writing a batch
is idempotent). When every batch is done, checksums and the manifest are written and the folder is
renamed to `RUN`, so a reader never sees a half-written run.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from attentionviz.errors import AttentionVizError
from attentionviz.hashing import sha256_file
from attentionviz.store import names
from attentionviz.store.atomic import read_json, write_json
from attentionviz.store.manifest import Manifest, save_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Slot:
    """Where one sequence of a batch goes: its token rows and its attention offset."""

    token_start: int
    length: int
    attn_offset: int


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
    """Preallocated arrays in a staging folder, filled batch by batch."""

    def __init__(self, staging: Path, shapes: dict[str, tuple[int, ...]], *, state_key: str) -> None:
        self.staging = staging
        self.shapes = shapes
        self.state_key = state_key
        self.state_path = staging / names.BUILD_STATE
        self.done: set[int] = set()
        state = read_json(self.state_path) if self.state_path.exists() else {}
        resume = isinstance(state, dict) and state.get("key") == state_key
        if resume:
            self.done = set(state["done"])
        self.arrays: dict[str, np.ndarray] = {}
        (staging / names.CAPTURE_DIR).mkdir(parents=True, exist_ok=True)
        for name, shape in shapes.items():
            path = names.array_path(staging, name)
            existing = resume and path.exists()
            if existing:
                array = np.lib.format.open_memmap(path, mode="r+")
                existing = array.shape == shape and array.dtype == np.float32
            if not existing:
                array = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=shape)
                resume = False  # a recreated array holds none of the recorded batches
            self.arrays[name] = array
        if not resume:
            self.done = set()
            self._save_state()

    def write(self, name: str, data: np.ndarray, slots: list[Slot]) -> None:
        """Copy one layer's batch into place. `data` is [B, heads, S, ...] (attention: [B, heads, S, S])."""
        target = self.arrays[name]
        is_attention = name.endswith(".attention")
        for row, slot in enumerate(slots):
            n = slot.length
            if is_attention:
                flat = data[row, :, :n, :n].reshape(data.shape[1], n * n)  # [heads, n*n]
                target[:, slot.attn_offset : slot.attn_offset + n * n] = flat
            else:
                target[:, slot.token_start : slot.token_start + n] = data[row, :, :n]

    def mark_done(self, batch: int) -> None:
        """Record a finished batch (its data is already in the shared file mappings)."""
        self.done.add(batch)
        self._save_state()

    def _save_state(self) -> None:
        write_json(self.state_path, {"key": self.state_key, "done": sorted(self.done)})

    def checksums(self) -> dict[str, dict[str, Any]]:
        """Flush every array and describe it (shape, dtype, sha256 of the file) for the manifest."""
        described = {}
        for name, array in self.arrays.items():
            array.flush()  # type: ignore[attr-defined]
            described[name] = {
                "shape": list(array.shape),
                "dtype": "float32",
                "sha256": sha256_file(names.array_path(self.staging, name)),
            }
        return described

    def close(self) -> None:
        for array in self.arrays.values():
            array.flush()  # type: ignore[attr-defined]
        self.arrays = {}


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
