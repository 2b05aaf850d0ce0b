"""`attentionviz verify RUN`: check a run folder's integrity and say exactly what is wrong.

    report = verify_run("runs/minilm")          # quick=True skips the sha256 of every array
    report.ok, report.problems, report.summary()

Checks, in order: the manifest (readable, a known schema); every array in `manifest.arrays`
(present, the shape and dtype the manifest records and the model's sizes imply, the file size its
header implies, its sha256) and no array that grows with the square of a sequence's length (a run
derives attention from q and k); the token and sequence tables (readable, the documented columns,
row counts, `token_start` consistent with `n_tokens`); and every head output under `heads/` (a
known head, layouts [2N, dim] with no NaN). Problems are collected, not raised: a run with three
damaged arrays gets three lines.

A run of schema 1 (which stored every sequence's attention) is checked by the rules it was
written under, and the summary says that `attentionviz upgrade RUN` converts it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from attentionviz.errors import AttentionVizError
from attentionviz.hashing import sha256_file
from attentionviz.layouts import Layout
from attentionviz.store import names
from attentionviz.store.arrays import AGGREGATE_POSITIONS, STORED, Sizes, capture_arrays
from attentionviz.store.manifest import Manifest, load_manifest
from attentionviz.store.tables import SEQUENCE_COLUMNS, TOKEN_COLUMNS

log = logging.getLogger(__name__)

_HEAD_DIR = re.compile(r"^layers\.(\d+)\.heads\.(\d+)$")


@dataclass
class VerifyReport:
    """What `verify_run` found: `problems` is empty for a sound run."""

    path: Path
    problems: list[str] = field(default_factory=list)
    n_arrays: int = 0
    n_layouts: int = 0
    checksums: bool = True
    manifest: Manifest | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        """One `error:` line per problem, or the one-line summary of a sound run."""
        return "\n".join(f"error: {p}" for p in self.problems) if self.problems else self.summary()

    def summary(self) -> str:
        m = self.manifest
        if m is None:
            return f"{self.path}: not checked"
        hashed = "checksums verified" if self.checksums else "checksums skipped (--quick)"
        older = (
            f"; schema {m.schema_version} (stored attention): `attentionviz upgrade {self.path}` converts it"
            if m.schema_version < names.SCHEMA_VERSION
            else ""
        )
        return (
            f"ok: {self.path}: {m.model.id}, {m.n_layers} layers x {m.n_heads} heads, {m.n_tokens} tokens "
            f"in {m.n_sequences} sequences; {self.n_arrays} arrays ({hashed}), {self.n_layouts} layouts{older}"
        )


def verify_run(path: str | Path, *, quick: bool = False) -> VerifyReport:
    """Check the run folder at `path`; `quick` skips hashing the arrays."""
    run_dir = Path(path)
    report = VerifyReport(run_dir, checksums=not quick)
    try:
        manifest = load_manifest(run_dir, older=True)
    except AttentionVizError as exc:
        report.problems.append(str(exc))
        return report
    report.manifest = manifest
    _check_arrays(run_dir, manifest, report, quick=quick)
    _check_tables(run_dir, manifest, report)
    _check_heads(run_dir, manifest, report)
    probes = run_dir / names.PROBES_DIR
    if (probes / names.MANIFEST).is_file():  # the probe sequences: a run of their own
        nested = verify_run(probes, quick=quick)
        report.problems.extend(nested.problems)
        report.n_arrays += nested.n_arrays
    return report


Expected = dict[str, tuple[list[int | None], str]]  # name -> (shape, None where unknown; dtype)


def _expected(m: Manifest, squares: int | None) -> Expected:
    """Shape and dtype of every array a run of these sizes holds, by the rules of its schema."""
    if m.schema_version == 1:  # stored attention, float32 throughout
        old: Expected = {}
        for layer in range(m.n_layers):
            old[names.array_name(layer, "q")] = ([m.n_heads, m.n_tokens, m.head_dim], "float32")
            old[names.array_name(layer, "k")] = ([m.n_kv_heads, m.n_tokens, m.head_dim], "float32")
            old[names.array_name(layer, "v_norm")] = ([m.n_kv_heads, m.n_tokens], "float32")
            old[names.array_name(layer, "attention")] = ([m.n_heads, squares], "float32")
        return old
    sizes = Sizes(m.n_heads, m.n_kv_heads, m.head_dim, m.n_tokens, m.aggregate_positions)
    dtype = m.model.dtype if m.model.dtype in STORED else "float32"
    pre_rope = names.array_name(0, "q_pre_rope") in m.arrays
    values = names.array_name(0, "v") in m.arrays  # --values
    specs = capture_arrays(m.n_layers, sizes, dtype=dtype, pre_rope=pre_rope, values=values)
    return {name: (list(spec.shape), spec.dtype) for name, spec in specs.items()}


def _check_arrays(run_dir: Path, m: Manifest, report: VerifyReport, *, quick: bool) -> None:
    squares = _sum_of_squares(run_dir)
    expected = _expected(m, squares)
    if m.schema_version > 1 and m.aggregate_positions > AGGREGATE_POSITIONS:
        report.problems.append(
            f"the aggregate covers {m.aggregate_positions} positions, more than {AGGREGATE_POSITIONS}; rebuild the run"
        )
    for name in expected:
        if name not in m.arrays:
            report.problems.append(
                f"manifest lists no array {name}; rebuild the run with `attentionviz build`"
            )
    for name, described in sorted(m.arrays.items()):
        if name not in expected:
            quadratic = _grows_quadratically(described.get("shape", []), m, squares)
            report.problems.append(
                f"{names.array_path(run_dir, name)}: "
                + (
                    "holds per-sequence attention, which grows with the square of a sequence's length; a run "
                    "derives it from q and k: rebuild the run with `attentionviz build`"
                    if quadratic
                    else f"is not an array of a schema {m.schema_version} run; rebuild the run"
                )
            )
            continue
        problem = _check_array(run_dir, name, described, *expected[name], quick=quick)
        if problem:
            report.problems.append(f"{names.array_path(run_dir, name)}: {problem}")
        else:
            report.n_arrays += 1
    capture_dir = run_dir / names.CAPTURE_DIR
    listed = {names.array_path(run_dir, name).name for name in m.arrays}
    # what an interrupted `attentionviz upgrade` leaves: the new aggregates of a schema-1 run, or
    # the stored attention of a schema-2 run
    leftover = ".aggregate.npy" if m.schema_version == 1 else ".attention.npy"
    for path in sorted(capture_dir.glob("*.npy")) if capture_dir.is_dir() else []:
        if path.name not in listed:
            report.problems.append(
                f"{path}: "
                + (
                    f"left over from an interrupted upgrade; finish it with `attentionviz upgrade {run_dir}`"
                    if path.name.endswith(leftover)
                    else "not listed in the manifest; remove it or rebuild the run"
                )
            )


def _grows_quadratically(shape: list[int], m: Manifest, squares: int | None) -> bool:
    """Whether an array of `shape` holds an entry per query-key pair of every sequence."""
    if squares is None or squares <= m.n_tokens:
        return False
    per_head = int(np.prod(shape[1:], dtype=np.int64)) if len(shape) > 1 else 0
    return squares in shape or (per_head > 0 and per_head % squares == 0)


def _check_array(
    run_dir: Path, name: str, described: dict[str, Any], implied: list[int | None], dtype: str, *, quick: bool
) -> str | None:
    path = names.array_path(run_dir, name)
    if not path.is_file():
        return "missing; rebuild the run with `attentionviz build`"
    try:
        shape, stored, header_end = _npy_header(path)
    except (OSError, ValueError) as exc:
        return f"not a readable .npy array ({exc}); rebuild the run with `attentionviz build`"
    want_shape = list(described.get("shape", []))
    if list(shape) != want_shape:
        return f"shape {list(shape)} but the manifest says {want_shape}; rebuild the run"
    if any(i is not None and i != s for i, s in zip(implied, shape, strict=False)):
        return f"shape {list(shape)} does not match the run's sizes {implied}; rebuild the run"
    if len(implied) != len(shape):
        return f"has {len(shape)} dimensions, expected {len(implied)}; rebuild the run"
    recorded = str(described.get("dtype", ""))
    if recorded != dtype:
        return f"the manifest says {recorded} but a run of this model stores {dtype}; rebuild the run"
    if stored != STORED[dtype]:
        return f"holds {stored} where {dtype} is stored as {STORED[dtype]}; rebuild the run"
    size = path.stat().st_size
    want_size = header_end + int(np.prod(shape, dtype=np.int64)) * stored.itemsize
    if size != want_size:
        state = "truncated" if size < want_size else "longer than its header says"
        return f"{state} ({size} bytes, expected {want_size}); rebuild the run"
    if not quick and sha256_file(path) != described.get("sha256"):
        return "checksum mismatch (the file changed after the build); rebuild the run"
    return None


def _npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype[Any], int]:
    """(shape, dtype, header length) of a .npy file, read without loading it."""
    with path.open("rb") as handle:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_1_0(handle)
        elif version == (2, 0):
            shape, _fortran, dtype = np.lib.format.read_array_header_2_0(handle)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        if dtype.hasobject:
            raise ValueError("holds Python objects")
        return tuple(shape), dtype, handle.tell()


def _sum_of_squares(run_dir: Path) -> int | None:
    """sum(len**2) over the sequence table, or None when the table cannot be read."""
    try:
        import pyarrow.parquet as pq

        lengths = pq.read_table(run_dir / names.SEQUENCES, columns=["n_tokens"]).column(0).to_numpy()
    except Exception:
        return None
    return int(np.sum(lengths.astype(np.int64) ** 2))


def _read_table(path: Path, columns: tuple[str, ...], report: VerifyReport) -> Any:
    import pyarrow.parquet as pq

    if not path.is_file():
        report.problems.append(f"{path}: missing; rebuild the run with `attentionviz build`")
        return None
    try:
        table = pq.read_table(path).to_pandas()
    except Exception as exc:
        report.problems.append(f"{path}: unreadable ({type(exc).__name__}); rebuild the run")
        return None
    missing = [c for c in columns if c not in table.columns]
    if missing:
        report.problems.append(f"{path}: missing columns {', '.join(missing)}; rebuild the run")
        return None
    return table


def _check_tables(run_dir: Path, m: Manifest, report: VerifyReport) -> None:
    tokens = _read_table(run_dir / names.TOKENS, TOKEN_COLUMNS, report)
    sequences = _read_table(run_dir / names.SEQUENCES, SEQUENCE_COLUMNS, report)
    where_t, where_s = run_dir / names.TOKENS, run_dir / names.SEQUENCES
    if tokens is not None and len(tokens) != m.n_tokens:
        report.problems.append(f"{where_t}: {len(tokens)} rows but the manifest says {m.n_tokens} tokens")
    if sequences is None:
        return
    if len(sequences) != m.n_sequences:
        report.problems.append(
            f"{where_s}: {len(sequences)} rows but the manifest says {m.n_sequences} sequences"
        )
    lengths = sequences["n_tokens"].to_numpy().astype(np.int64)
    if int(lengths.sum()) != m.n_tokens:
        report.problems.append(f"{where_s}: n_tokens sum to {int(lengths.sum())}, not {m.n_tokens}")
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    if not np.array_equal(sequences["token_start"].to_numpy(), starts):
        report.problems.append(f"{where_s}: token_start does not follow n_tokens; rebuild the run")
    if m.schema_version == 1:  # its offsets into the stored attention
        offsets = np.concatenate([[0], np.cumsum(lengths**2)[:-1]])
        if "attn_offset" not in sequences or not np.array_equal(sequences["attn_offset"].to_numpy(), offsets):
            report.problems.append(f"{where_s}: attn_offset does not follow n_tokens; rebuild the run")
    if tokens is not None and len(tokens) == int(lengths.sum()):
        owner = np.repeat(sequences["sequence"].to_numpy(), lengths)
        if not np.array_equal(tokens["sequence"].to_numpy(), owner):
            report.problems.append(
                f"{where_t}: sequence ids disagree with {names.SEQUENCES}; rebuild the run"
            )


def _check_heads(run_dir: Path, m: Manifest, report: VerifyReport) -> None:
    heads_dir = run_dir / names.HEADS_DIR
    if not heads_dir.is_dir():
        return
    for folder in sorted(heads_dir.iterdir()):
        match = _HEAD_DIR.match(folder.name)
        if not folder.is_dir() or match is None:
            report.problems.append(f"{folder}: not a head folder (expected layers.L.heads.H)")
            continue
        layer, head = int(match[1]), int(match[2])
        if layer >= m.n_layers or head >= m.n_heads:
            report.problems.append(
                f"{folder}: no such head in a run of {m.n_layers} layers x {m.n_heads} heads"
            )
            continue
        for path in sorted(folder.glob("*.npy")):
            problem = _check_layout(path, m.n_tokens)
            if problem:
                report.problems.append(f"{path}: {problem}")
            else:
                report.n_layouts += 1


def _check_layout(path: Path, n_tokens: int) -> str | None:
    layout = Layout.from_file_name(path.name)
    if layout is None:
        return "not a layout file (expected METHOD.2d.npy or METHOD.3d.npy)"
    dim = layout.dim
    try:
        coords = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        return f"unreadable ({exc}); recompute it with `attentionviz embed`"
    if coords.shape != (2 * n_tokens, dim):
        return f"shape {list(coords.shape)}, expected [{2 * n_tokens}, {dim}]; recompute it with `attentionviz embed`"
    if not np.issubdtype(coords.dtype, np.floating):
        return f"dtype {coords.dtype}, expected float32; recompute it with `attentionviz embed`"
    if not np.isfinite(np.asarray(coords)).all():
        return "holds NaN or infinite coordinates; recompute it with `attentionviz embed`"
    return None
