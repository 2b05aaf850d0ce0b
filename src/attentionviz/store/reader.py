"""Read a finished run folder: `Run(path)`; `run.head(l, h)` -> Head. (The public `attentionviz.Run`
extends this reader with what the layers above the store add.)

Arrays come back as read-only memory maps, so opening a run costs nothing and a head costs only
the pages it touches. Attention is derived from the stored queries and keys (`recompute.attention`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from attentionviz.errors import AttentionVizError, RunNotFound
from attentionviz.layouts import Layout
from attentionviz.store import head_outputs, names
from attentionviz.store.arrays import as_float
from attentionviz.store.atomic import load_npy
from attentionviz.store.manifest import Manifest, load_manifest
from attentionviz.store.recompute import aggregate_counts, attention_from_qk

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True)
class RunInfo:
    """The facts about a run that every view needs."""

    model: str
    architecture: str
    corpus: str
    kind: str  # "text" | "image"
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    n_tokens: int
    n_sequences: int
    kv_map: tuple[int, ...]
    has_pre_rope: bool


class Run:
    """A finished run folder. Cheap to open; every array is loaded on demand."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.manifest: Manifest = load_manifest(self.path)
        self._arrays: dict[str, np.ndarray] = {}

    def __repr__(self) -> str:
        i = self.info
        return (
            f"<Run {self.path} model={i.model!r} {i.layers}x{i.heads} heads "
            f"({i.kv_heads} kv) {i.n_tokens} tokens in {i.n_sequences} {'images' if i.kind == 'image' else 'sequences'}>"
        )

    @functools.cached_property
    def info(self) -> RunInfo:
        m = self.manifest
        return RunInfo(
            model=m.model.id,
            architecture=m.model.architecture,
            corpus=m.corpus.source,
            kind=m.kind,
            layers=m.n_layers,
            heads=m.n_heads,
            kv_heads=m.n_kv_heads,
            head_dim=m.head_dim,
            n_tokens=m.n_tokens,
            n_sequences=m.n_sequences,
            kv_map=m.kv_map,
            has_pre_rope=names.array_name(0, "q_pre_rope") in m.arrays,
        )

    @functools.cached_property
    def tokens(self) -> pd.DataFrame:
        """One row per token (global token index = row): token, token_id, sequence, position, ..."""
        return _read_table(self.path, names.TOKENS)

    @functools.cached_property
    def sequences(self) -> pd.DataFrame:
        """One row per sequence: text, n_tokens, token_start, document, window, source."""
        return _read_table(self.path, names.SEQUENCES)

    @functools.cached_property
    def metrics(self) -> pd.DataFrame:
        """Every head's metrics in one table (a row per head that has been embedded)."""
        import pandas as pd

        rows = []
        for layer in range(self.info.layers):
            for head in range(self.info.heads):
                record = head_outputs.load_head_json(self.path, layer, head, "metrics")
                if record is not None:
                    rows.append({"layer": layer, "head": head, **record})
        return pd.DataFrame(rows)

    def head(self, layer: int, head: int) -> Head:
        self._check_index(layer, head)
        return Head(self, layer, head)

    def heads(self) -> list[Head]:
        return [
            Head(self, layer, head) for layer in range(self.info.layers) for head in range(self.info.heads)
        ]

    def array(self, name: str) -> np.ndarray:
        """A captured array by dotted name (`layers.3.q`), memory-mapped read-only, as stored.

        Its dtype is the manifest's (`run.manifest.arrays[name]["dtype"]`); a bfloat16 array holds
        its raw bit patterns (numpy has no bfloat16), which `Head.queries()` / `keys()` widen.
        """
        array = self._arrays.get(name)
        if array is None:  # a finished run's arrays do not change: open each once
            array = self._arrays[name] = _load_array(self.path, name)
        return array

    @functools.cached_property
    def aggregate_counts(self) -> np.ndarray:
        """[P, P] int32: how many sequences hold both positions (P = the aggregate's positions)."""
        lengths = self.sequences["n_tokens"].to_numpy()
        return aggregate_counts(lengths, self.manifest.aggregate_positions)

    def _check_index(self, layer: int, head: int) -> None:
        info = self.info
        if not 0 <= layer < info.layers:
            raise RunNotFound(f"layer {layer} is out of range: this run has layers 0..{info.layers - 1}")
        if not 0 <= head < info.heads:
            raise RunNotFound(f"head {head} is out of range: this run has heads 0..{info.heads - 1}")

    def sequence_bounds(self, seq: int) -> tuple[int, int]:
        """(first token index, length) of sequence `seq`."""
        n = self.info.n_sequences
        if not 0 <= seq < n:
            raise RunNotFound(f"sequence {seq} is out of range: this run has sequences 0..{n - 1}")
        starts, lengths = self._bounds
        return int(starts[seq]), int(lengths[seq])

    @functools.cached_property
    def _bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.sequences["token_start"].to_numpy(), self.sequences["n_tokens"].to_numpy()


class Head:
    """One attention head of a run: its queries, its KV group's keys, its attention and layouts."""

    def __init__(self, run: Run, layer: int, head: int) -> None:
        self.run = run
        self.layer = layer
        self.head = head
        self.kv_head = run.info.kv_map[head]

    def __repr__(self) -> str:
        return f"<Head layer={self.layer} head={self.head} kv_head={self.kv_head} of {self.run.path}>"

    @property
    def name(self) -> str:
        return names.head_name(self.layer, self.head)

    def queries(self, *, pre_rope: bool = False) -> np.ndarray:
        """[n_tokens, head_dim] queries as the model multiplied them (post-rotary by default).

        In the model's dtype (a memory map) where numpy has it; bfloat16 comes back as float32.
        """
        return self._vectors("q_pre_rope" if pre_rope else "q", self.head)

    def keys(self, *, pre_rope: bool = False) -> np.ndarray:
        """[n_tokens, head_dim] keys of this head's KV group (dtype as `queries`)."""
        return self._vectors("k_pre_rope" if pre_rope else "k", self.kv_head)

    def value_norms(self) -> np.ndarray:
        """[n_tokens] L2 norm of each token's value vector in this head's KV group."""
        return np.asarray(self._captured("v_norm")[self.kv_head])

    def attention(self, seq: int, *, rows: tuple[int, int] | None = None) -> np.ndarray:
        """[len, len] the model's own attention for sequence `seq` (rows: queries), derived from the
        stored queries and keys; `rows=(start, stop)`: only those query rows, [stop - start, len]."""
        token_start, length = self.run.sequence_bounds(seq)
        start, stop = (0, length) if rows is None else (max(0, rows[0]), min(length, rows[1]))
        if stop < start:
            raise RunNotFound(f"rows {rows[0] if rows else 0}.. lie past sequence {seq}'s {length} tokens")
        q = self._rows("q", self.head, token_start + start, token_start + stop)
        k = self._rows("k", self.kv_head, token_start, token_start + length)
        return attention_from_qk(q, k, self.run.manifest.layers[self.layer], first_row=start)

    def aggregate(self) -> np.ndarray:
        """[P, P] mean attention of query position i to key position j over the sequences that hold
        both (`run.aggregate_counts`), for the first P positions; computed once, by the capture."""
        return np.asarray(self._captured("aggregate")[self.head])

    def layout(self, method: str | Layout, dim: int = 2) -> np.ndarray:
        """[2N, dim] layout: rows 0..N-1 the queries, N..2N-1 the keys, in token order.

        `head.layout("umap", dim=3)`, `head.layout("umap.3d")` or `head.layout(Layout("umap", 3))`.
        """
        try:
            layout = Layout.of(method, dim)
        except AttentionVizError as exc:
            raise RunNotFound(str(exc)) from None
        return head_outputs.load_layout(self.run.path, self.layer, self.head, layout)

    def layouts(self) -> list[Layout]:
        """Every layout computed for this head, as (method, dim) pairs."""
        return head_outputs.available_layouts(self.run.path, self.layer, self.head)

    @property
    def metrics(self) -> dict[str, Any]:
        return head_outputs.load_head_json(self.run.path, self.layer, self.head, "metrics") or {}

    @property
    def fidelity(self) -> dict[str, Any]:
        return head_outputs.load_head_json(self.run.path, self.layer, self.head, "fidelity") or {}

    def _vectors(self, kind: str, index: int) -> np.ndarray:
        stored = self._captured(kind)[index]
        dtype = self.run.manifest.arrays[names.array_name(self.layer, kind)]["dtype"]
        return np.asarray(stored) if dtype != "bfloat16" else as_float(stored, dtype)

    def _rows(self, kind: str, index: int, start: int, stop: int) -> np.ndarray:
        """Rows start..stop of one head of a vector array, as floats (only those rows are read)."""
        stored = self._captured(kind)[index, start:stop]
        return as_float(stored, self.run.manifest.arrays[names.array_name(self.layer, kind)]["dtype"])

    def _captured(self, kind: str) -> np.ndarray:
        name = names.array_name(self.layer, kind)
        if name not in self.run.manifest.arrays:
            hint = " (build with --pre-rope to keep them)" if "pre_rope" in kind else ""
            raise RunNotFound(f"this run has no {name}{hint}")
        return self.run.array(name)


def _read_table(run_dir: Path, name: str) -> pd.DataFrame:
    """A run's Parquet table; a missing or damaged one is a one-line error, not a traceback."""
    import pandas as pd

    path = names.inside_run(run_dir, run_dir / name)
    try:
        return pd.read_parquet(path)
    except FileNotFoundError as exc:
        raise AttentionVizError(
            f"run {run_dir} is missing {name}; check it with `attentionviz verify {run_dir}`"
        ) from exc
    except Exception as exc:  # pyarrow raises several types for a damaged file
        raise AttentionVizError(
            f"{run_dir / name} is damaged ({type(exc).__name__}); check it with `attentionviz verify {run_dir}`"
        ) from exc


@functools.lru_cache(maxsize=256)
def _load_cached(path: str, mtime_ns: int) -> np.ndarray:
    return load_npy(Path(path))


def _load_array(run_dir: Path, name: str) -> np.ndarray:
    path = names.array_path(run_dir, name)
    try:
        stat = names.inside_run(run_dir, path).stat()
        return _load_cached(str(path), stat.st_mtime_ns)
    except FileNotFoundError as exc:
        raise AttentionVizError(
            f"run {run_dir} is missing {path.name}; check it with `attentionviz verify {run_dir}`"
        ) from exc
    except ValueError as exc:
        raise AttentionVizError(
            f"{path} is damaged ({exc}); check it with `attentionviz verify {run_dir}`"
        ) from exc
