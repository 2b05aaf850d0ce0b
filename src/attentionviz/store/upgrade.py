"""`attentionviz upgrade RUN`: convert, in place, a run written by an older attentionviz.

Schema 1 stored every sequence's attention, [n_heads, sum(len_s ** 2)] per layer. Schema 2 derives
attention from q and k (which schema 1 also stored, in float32) and stores the aggregate instead.
Upgrading a schema-1 run:

1. writes each layer's aggregate (`layers.{l}.aggregate.npy`, atomically), averaged from the
   stored attention: exactly what the Aggregate View showed;
2. writes the new manifest (atomically): from here on the run is a schema-2 run;
3. rewrites `sequences.parquet` without its `attn_offset` column (atomically);
4. deletes the attention arrays.

Until step 2 the run is the old run, whole (plus the new aggregate files); after it, a new run
(plus what steps 3-4 clear away). Interrupted anywhere, the command run again finishes the job:
before step 2 it starts over, after it it does what is left of steps 3-4.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attentionviz.errors import AttentionVizError
from attentionviz.hashing import sha256_file
from attentionviz.store import names
from attentionviz.store.arrays import aggregate_positions
from attentionviz.store.atomic import load_npy, write_npy
from attentionviz.store.manifest import Manifest, load_manifest, save_manifest
from attentionviz.store.recompute import aggregate_counts
from attentionviz.store.tables import SEQUENCE_SCHEMA, write_table

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UpgradeReport:
    path: Path
    schema_from: int
    removed_bytes: int
    ok: bool = True

    def __str__(self) -> str:
        if self.schema_from == names.SCHEMA_VERSION and not self.removed_bytes:
            return f"ok: {self.path} is already a schema {names.SCHEMA_VERSION} run; nothing to do"
        return (
            f"ok: {self.path} upgraded from schema {self.schema_from} to {names.SCHEMA_VERSION}: attention is now "
            f"derived from q and k ({self.removed_bytes / 1e6:.1f} MB of stored attention removed)"
        )


def upgrade_run(path: str | Path) -> UpgradeReport:
    """Convert the run at `path` to the current schema in place (see the module docstring)."""
    run_dir = Path(path)
    manifest = load_manifest(run_dir, older=True)
    schema = manifest.schema_version
    if schema == 1:
        _upgrade_from_1(run_dir, manifest)
    elif schema != names.SCHEMA_VERSION:
        raise AttentionVizError(f"{run_dir} uses schema {schema}, which this attentionviz cannot upgrade")
    _drop_offsets(run_dir)  # step 3 (also what an interrupted upgrade left)
    removed = 0
    for layer in range(manifest.n_layers):  # step 4
        leftover = names.array_path(run_dir, names.array_name(layer, "attention"))
        if leftover.exists():
            removed += leftover.stat().st_size
            leftover.unlink()
    return UpgradeReport(run_dir, schema, removed)


def _upgrade_from_1(run_dir: Path, manifest: Manifest) -> None:
    import pandas as pd

    sequences = pd.read_parquet(names.inside_run(run_dir, run_dir / names.SEQUENCES))
    lengths = sequences["n_tokens"].to_numpy(dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths**2)[:-1]])
    positions = aggregate_positions(int(lengths.max()))
    counts = aggregate_counts(lengths, positions)
    arrays = {name: spec for name, spec in manifest.arrays.items() if not name.endswith(".attention")}
    for layer in range(manifest.n_layers):  # step 1
        name = names.array_name(layer, "aggregate")
        stored = load_npy(
            names.inside_run(run_dir, names.array_path(run_dir, names.array_name(layer, "attention")))
        )
        sums = np.zeros((manifest.n_heads, positions, positions), dtype=np.float64)
        for offset, length in zip(offsets, lengths, strict=True):
            m = min(int(length), positions)
            square = stored[:, offset : offset + length * length].reshape(-1, length, length)  # [H, len, len]
            sums[:, :m, :m] += square[:, :m, :m]
        mean = np.divide(sums, counts, out=np.zeros_like(sums), where=counts > 0).astype(np.float32)
        path = names.array_path(run_dir, name)
        write_npy(path, mean)
        arrays[name] = {"shape": list(mean.shape), "dtype": "float32", "sha256": sha256_file(path)}
        log.info("layer %d: aggregate over %d positions written", layer, positions)
    save_manifest(  # step 2
        run_dir,
        dataclasses.replace(
            manifest,
            arrays=dict(sorted(arrays.items())),
            schema_version=names.SCHEMA_VERSION,
            aggregate_positions=positions,
        ),
    )


def _drop_offsets(run_dir: Path) -> None:
    """The sequence table without schema 1's `attn_offset` (offsets into the stored attention)."""
    import pyarrow.parquet as pq

    path = names.inside_run(run_dir, run_dir / names.SEQUENCES)
    if "attn_offset" not in pq.read_schema(path).names:
        return
    sequences = pq.read_table(path).to_pandas()
    write_table(path, {column: sequences[column].to_numpy() for column in SEQUENCE_SCHEMA}, SEQUENCE_SCHEMA)
