"""The head map: every head of one or more runs as one point, placed by its fingerprint; and each
head's nearest heads on that fingerprint.

    head_map([run_a, run_b], method="umap")   DataFrame: run, layer, head, x, y, metrics, fingerprint
    related([run_a, run_b], 0, layer=2, head=5, k=5)   the 5 heads nearest head 2.5 of run_a

Fingerprints are standardised over all the heads given (`fingerprints.FingerprintSpace`), so
like heads of different models sit together; PCA or UMAP (a kNN graph of the standardised
fingerprints, euclidean) lays them out in 2D.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from attentionviz.analysis.fingerprint import COLUMNS, FingerprintSpace, fingerprints
from attentionviz.analysis.table import metrics_table
from attentionviz.errors import AttentionVizError
from attentionviz.store.reader import Run

if TYPE_CHECKING:
    import pandas as pd

MAP_METHODS = ("umap", "pca")
MIN_UMAP_HEADS = 12  # fewer heads than this are laid out by PCA whatever was asked


def run_label(run: Run) -> str:
    return run.path.name


def reduce(x: np.ndarray, method: str, seed: int = 0) -> np.ndarray:
    """[heads, F] standardised fingerprints -> [heads, 2] coordinates."""
    from attentionviz.embed.knn import knn_graph
    from attentionviz.embed.reducers import get_reducer

    if method not in MAP_METHODS:
        raise AttentionVizError(f"unknown head map layout {method!r}; choose from {', '.join(MAP_METHODS)}")
    if len(x) < MIN_UMAP_HEADS or method == "pca":
        return np.asarray(get_reducer("pca").embed(x, dim=2, knn=None, seed=seed), dtype=np.float32)
    reducer = get_reducer("umap")
    graph = knn_graph(x.astype(np.float32), min(reducer.neighbours(), len(x) - 1), metric="euclidean")
    return np.asarray(reducer.embed(x.astype(np.float32), dim=2, knn=graph, seed=seed), dtype=np.float32)


def head_map_of(
    tables: Sequence[pd.DataFrame],
    metrics: Sequence[pd.DataFrame],
    labels: Sequence[str],
    *,
    method: str = "umap",
    seed: int = 0,
) -> pd.DataFrame:
    """The head map of runs given by their fingerprint and metric tables."""
    import pandas as pd

    space = FingerprintSpace.fit(tables)
    x = np.concatenate([space.transform(t) for t in tables])
    coords = reduce(x, method, seed) if len(x) else np.zeros((0, 2), dtype=np.float32)
    frames = []
    for label, table, table_metrics in zip(labels, tables, metrics, strict=True):
        frame = table[["layer", "head"]].copy()
        frame.insert(0, "run", label)
        extra = table_metrics.drop(columns=[c for c in table_metrics if c in COLUMNS])
        frame = frame.merge(extra, on=["layer", "head"], how="left")
        for column in COLUMNS:
            frame[column] = table[column].to_numpy()
        frames.append(frame)
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    out.insert(3, "x", coords[:, 0] if len(coords) else [])
    out.insert(4, "y", coords[:, 1] if len(coords) else [])
    return out


def head_map(runs: Sequence[Run], *, method: str = "umap", seed: int = 0) -> pd.DataFrame:
    """Every head of `runs` in one 2D map: run, layer, head, x, y, then metrics and fingerprint columns."""
    return head_map_of(
        [fingerprints(r) for r in runs],
        [metrics_table(r) for r in runs],
        [run_label(r) for r in runs],
        method=method,
        seed=seed,
    )


def nearest(
    tables: Sequence[pd.DataFrame], labels: Sequence[str], index: int, layer: int, head: int, k: int = 5
) -> pd.DataFrame:
    """The `k` heads nearest (layer, head) of tables[index], over every table: run, layer, head, distance."""
    import pandas as pd

    space = FingerprintSpace.fit(tables)
    origin = tables[index]
    at = np.flatnonzero((origin["layer"] == layer).to_numpy() & (origin["head"] == head).to_numpy())
    if not len(at):
        raise AttentionVizError(f"no head {layer}.{head} in {labels[index]}")
    point = space.transform(origin)[at[0]]  # [F]
    frames = []
    for i, (label, table) in enumerate(zip(labels, tables, strict=True)):
        d = np.sqrt(((space.transform(table) - point) ** 2).sum(axis=1))
        frame = pd.DataFrame({"run": label, "layer": table["layer"], "head": table["head"], "distance": d})
        if i == index:
            frame = frame[~((frame["layer"] == layer) & (frame["head"] == head))]
        frames.append(frame)
    found = pd.concat(frames, ignore_index=True).sort_values(
        ["distance", "run", "layer", "head"], kind="stable"
    )
    return found.head(k).reset_index(drop=True)


def related(runs: Sequence[Run], index: int, *, layer: int, head: int, k: int = 5) -> pd.DataFrame:
    """The `k` heads of `runs` nearest head (layer, head) of runs[index] on the fingerprint."""
    runs[index].head(layer, head)  # a one-line error when out of range
    return nearest([fingerprints(r) for r in runs], [run_label(r) for r in runs], index, layer, head, k)
