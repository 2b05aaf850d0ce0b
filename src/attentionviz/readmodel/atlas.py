"""The head atlas in the read model: a run's metrics table, the head map of every run a scope shows,
a head's related heads, each query's keys needed, value layouts and the probe sequences.

Fingerprints and metrics are read once per run state (a head's atlas.json or metrics.json
changing, or the run rebuilt, gives a new state) and the head map once per set of run states.
"""

from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from attentionviz.errors import RunNotFound
from attentionviz.layouts import Layout
from attentionviz.readmodel.frames import Frame
from attentionviz.readmodel.models import HeadMapMeta, HeadRowsMeta, KeysNeededMeta, MetricsMeta, RelatedHead
from attentionviz.readmodel.scope import Scope
from attentionviz.store import names
from attentionviz.store.reader import Head, Run

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

MAP_COLUMNS = ("layer",)  # besides the metrics, what the map can colour by


def _state(run: Run) -> int:
    """A number that changes when the run's head outputs or its importance change."""
    stamp = (run.path / names.MANIFEST).stat().st_mtime_ns
    heads = run.path / names.HEADS_DIR
    if heads.is_dir():
        with os.scandir(heads) as folders:
            for folder in folders:
                for name in ("atlas.json", "metrics.json", "fidelity.json"):
                    try:
                        stamp ^= (Path(folder.path) / name).stat().st_mtime_ns
                    except OSError:
                        continue
    importance = run.path / "analysis" / "importance.json"
    if importance.exists():
        stamp ^= importance.stat().st_mtime_ns
    return stamp


@functools.lru_cache(maxsize=16)
def _tables(path: str, state: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    from attentionviz.analysis.fingerprint import fingerprints
    from attentionviz.analysis.table import metrics_table

    run = Run(path)
    return fingerprints(run), metrics_table(run)


def run_tables(run: Run) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(fingerprints, metrics) of a run, cached while the run's files are unchanged."""
    return _tables(str(run.path), _state(run))


def _shown(scope: Scope, run: Run, table: pd.DataFrame) -> pd.DataFrame:
    if scope.selected is None:
        return table
    pairs = zip(table["layer"], table["head"], strict=True)
    keep = [scope.shows(run, int(layer), int(head)) for layer, head in pairs]
    return table[np.asarray(keep, dtype=bool)].reset_index(drop=True)


def metrics_frame(scope: Scope, run_id: str) -> bytes:
    """Every head's metrics: `values` [layers * heads, columns], NaN where a head lacks one."""
    run = scope.run(run_id)
    _, table = run_tables(run)
    table = _shown(scope, run, table)
    info = run.info
    columns = [str(c) for c in table if c not in ("layer", "head")]
    values = np.full((info.layers * info.heads, len(columns)), np.nan, dtype=np.float32)
    rows = table["layer"].to_numpy() * info.heads + table["head"].to_numpy()
    values[rows] = table[columns].to_numpy(dtype=np.float32)
    frame = Frame(meta=MetricsMeta(layers=info.layers, heads=info.heads, columns=columns))
    frame.add("values", values)
    return frame.encode()


@functools.lru_cache(maxsize=8)
def _head_map(key: tuple[tuple[str, str, int, str], ...], method: str) -> pd.DataFrame:
    from attentionviz.analysis.headmap import head_map_of

    tables, metrics, labels = [], [], []
    for run_id, path, state, selection in key:
        fingerprints, table = _tables(path, state)
        keep = _selection_mask(fingerprints, selection)
        tables.append(fingerprints[keep].reset_index(drop=True))
        metrics.append(table[keep].reset_index(drop=True))
        labels.append(run_id)
    return head_map_of(tables, metrics, labels, method=method)


def _selection(scope: Scope, run: Run) -> str:
    """The heads a scope shows of a run, as a cache key ("" for all)."""
    if scope.selected is None:
        return ""
    return ",".join(f"{layer}.{head}" for layer, head in scope.heads(run))


def _selection_mask(table: pd.DataFrame, selection: str) -> np.ndarray:
    if not selection:
        return np.ones(len(table), dtype=bool)
    chosen = set(selection.split(","))
    pairs = zip(table["layer"], table["head"], strict=True)
    return np.asarray([f"{layer}.{head}" in chosen for layer, head in pairs], dtype=bool)


def head_map_frame(scope: Scope, method: str) -> bytes:
    """Every head of every run the scope shows, placed by its fingerprint (UMAP or PCA)."""
    from attentionviz.analysis.headmap import MAP_METHODS

    if method not in MAP_METHODS:
        raise RunNotFound(f"unknown head map layout {method!r}; choose from {', '.join(MAP_METHODS)}")
    ids = scope.run_ids()
    key = tuple(
        (run_id, str(run.path), _state(run), _selection(scope, run))
        for run_id in ids
        for run in [scope.run(run_id)]
    )
    table = _head_map(key, method)
    columns = _metric_columns(table)
    frame = Frame(meta=HeadMapMeta(method=method, runs=ids, columns=columns, n=len(table)))
    frame.add("run", np.asarray([ids.index(r) for r in table["run"]], dtype=np.int32))
    frame.add("layer", table["layer"].to_numpy(dtype=np.int32))
    frame.add("head", table["head"].to_numpy(dtype=np.int32))
    frame.add("coords", table[["x", "y"]].to_numpy(dtype=np.float32))
    frame.add("values", table[columns].to_numpy(dtype=np.float32))
    return frame.encode()


def _metric_columns(table: pd.DataFrame) -> list[str]:
    """The head map's colourable columns: the metrics table's (not the profile or geometry)."""
    found = [str(c) for c in table]
    return [
        c for c in found if c not in ("run", "layer", "head", "x", "y") and not c.startswith(("attn.", "qk."))
    ]


def related_heads(scope: Scope, run_id: str, layer: int, head: int, k: int = 5) -> list[RelatedHead]:
    """The `k` heads nearest this one on the fingerprint, among every head of the runs shown."""
    from attentionviz.analysis.headmap import nearest

    scope.head(run_id, layer, head)  # a one-line 404 when out of range
    ids = scope.run_ids()
    tables = []
    for other in ids:
        run = scope.run(other)
        tables.append(_shown(scope, run, run_tables(run)[0]))
    found = nearest(tables, ids, ids.index(run_id), layer, head, k)
    return [
        RelatedHead(run=str(run), layer=int(layer), head=int(other), distance=float(d))
        for run, layer, other, d in zip(
            found["run"], found["layer"], found["head"], found["distance"], strict=True
        )
    ]


@functools.lru_cache(maxsize=32)
def _keys_needed(path: str, stamp: int, layer: int, head: int) -> np.ndarray:
    from attentionviz.analysis.scores import keys_needed

    return keys_needed(Run(path), layer, head)


def keys_needed_frame(head: Head) -> bytes:
    """[N] uint16, token order: the keys holding 90% of each token's query's attention."""
    from attentionviz.analysis.scores import MASS

    run = head.run
    stamp = (run.path / names.MANIFEST).stat().st_mtime_ns
    needed = _keys_needed(str(run.path), stamp, head.layer, head.head)
    frame = Frame(meta=KeysNeededMeta(name=head.name, n_tokens=run.info.n_tokens, mass=MASS))
    frame.add("keys", np.minimum(needed, np.iinfo(np.uint16).max).astype(np.uint16))
    return frame.encode()


def value_layout_frame(head: Head, layout: Layout) -> bytes:
    """The head's KV group's value layout, [N, 2] quantised, token order, with the value norms."""
    from attentionviz.analysis.values import load_value_layout

    coords = np.asarray(load_value_layout(head.run, head.layer, head.head, layout), dtype=np.float32)
    n = head.run.info.n_tokens
    frame = Frame(
        meta=HeadRowsMeta(
            name=head.name,
            layout=layout.key,
            order="token",
            rows=len(coords),
            n_points=len(coords),
            n_tokens=n,
        )
    )
    frame.add_quantized("coords", coords)
    frame.add_quantized("norms", np.asarray(head.value_norms(), dtype=np.float32))
    return frame.encode()


def value_layouts(head: Head) -> list[str]:
    from attentionviz.analysis.values import value_layouts as available

    return [layout.key for layout in available(head.run, head.layer, head.run.info.kv_map[head.head])]


def atlas_scores(head: Head) -> dict[str, float]:
    """The head's probe scores and importance, where the run has them (for its details)."""
    _, table = run_tables(head.run)
    row = table[(table["layer"] == head.layer) & (table["head"] == head.head)]
    out = {}
    for column in ("induction", "duplicate", "importance"):
        if column in row and len(row) and np.isfinite(row[column].iloc[0]):
            out[column] = float(row[column].iloc[0])
    return out


def probes_run(run: Run) -> Run:
    from attentionviz.analysis.pipeline import probes_of

    probes = probes_of(run)
    if probes is None:
        raise RunNotFound(f"{run.path.name} has no probe sequences; build it with --probes induction")
    return probes


def probe_count(run: Run) -> int:
    from attentionviz.analysis.pipeline import probes_of

    probes = probes_of(run)
    return 0 if probes is None else probes.info.n_sequences


def probe_attention(scope: Scope, run_id: str, layer: int, head: int, seq: int, **kwargs: Any) -> bytes:
    from attentionviz.readmodel.attention import sequence_attention_frame

    scope.head(run_id, layer, head)
    return sequence_attention_frame(probes_run(scope.run(run_id)).head(layer, head), seq, **kwargs)
