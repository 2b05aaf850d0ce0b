"""How faithfully a layout keeps each point's neighbourhood: kNN preservation and trustworthiness.

Both compare the layout with the space it was computed from (the normalised, stacked [Q'; K'] under
the reducers' metric), so they judge the reducer, not the normalisation.

    kNN preservation   mean fraction of a point's k nearest neighbours that are still among its
                       k nearest in the layout (1: perfect, k / 2N: random)
    trustworthiness    1 - penalty for layout neighbours that were far apart (Venna & Kaski 2001),
                       estimated on a fixed random sample of points
"""

from __future__ import annotations

import numpy as np

from attentionviz.embed.knn import KnnGraph

QUALITY_K = 15


def left_out(n_points: int, k: int = QUALITY_K) -> dict[str, str]:
    """The measures a head of `n_points` rows is too small for, each with a one-line note."""
    notes = {}
    if n_points <= k:
        notes["knn_preservation"] = (
            f"kNN preservation left out: it needs more than {k} points per head, this run has {n_points}"
        )
    if n_points <= 3 * k + 1:
        notes["trustworthiness"] = (
            f"trustworthiness left out: it needs more than {3 * k + 1} points per head, this run has {n_points}"
        )
    return notes


def layout_neighbours(coords: np.ndarray, k: int) -> np.ndarray:
    """[M, k] indices of each point's k nearest other points in the layout (euclidean)."""
    from scipy.spatial import cKDTree

    tree = cKDTree(np.asarray(coords, dtype=np.float64))
    _, found = tree.query(coords, k=k + 1)  # [M, k + 1], usually self first
    found = np.asarray(found, dtype=np.int64)
    own = np.arange(len(coords))[:, None]
    is_self = found == own
    # Drop the point itself; where duplicates hid it, drop the farthest instead.
    drop = np.where(is_self.any(axis=1), is_self.argmax(axis=1), k)
    keep = np.ones_like(found, dtype=bool)
    keep[np.arange(len(found)), drop] = False
    neighbours: np.ndarray = found[keep].reshape(len(found), k)
    return neighbours


def knn_preservation(graph: KnnGraph, coords: np.ndarray, k: int = QUALITY_K) -> float:
    """Mean fraction of the original k nearest neighbours kept in the layout."""
    original = graph.first(k).indices  # [M, k]
    kept = layout_neighbours(coords, k)  # [M, k]
    hits = (original[:, :, None] == kept[:, None, :]).any(axis=2).sum(axis=1)  # [M]
    return float(hits.mean() / k)


def trustworthiness(
    x: np.ndarray, coords: np.ndarray, *, metric: str, k: int = QUALITY_K, sample: int = 500, seed: int = 0
) -> float:
    """Trustworthiness of the layout's k-neighbourhoods, estimated on `sample` points."""
    n = len(x)
    if n <= 3 * k + 1:
        raise ValueError(f"trustworthiness needs more than {3 * k + 1} points, got {n}")
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=min(sample, n), replace=False))
    kept = layout_neighbours(coords, k)[rows]  # [m, k]
    points = np.asarray(x, dtype=np.float32)
    if metric == "cosine":
        points = points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)
    penalty = 0.0
    for start in range(0, len(rows), 128):
        block = rows[start : start + 128]
        dist = _distances(points[block], points, metric)  # [b, n]
        dist[np.arange(len(block)), block] = np.inf
        to_kept = np.take_along_axis(dist, kept[start : start + 128], axis=1)  # [b, k]
        ranks = (dist[:, None, :] < to_kept[:, :, None]).sum(axis=2) + 1  # [b, k], 1 = nearest
        penalty += float(np.clip(ranks - k, 0, None).sum())
    per_point = penalty / len(rows)
    return float(1.0 - 2.0 / (k * (2.0 * n - 3.0 * k - 1.0)) * per_point)


def _distances(a: np.ndarray, b: np.ndarray, metric: str) -> np.ndarray:
    if metric == "cosine":  # rows already unit length
        return np.asarray(1.0 - a @ b.T, dtype=np.float32)
    sq = (a * a).sum(axis=1)[:, None] + (b * b).sum(axis=1)[None, :] - 2.0 * (a @ b.T)
    return np.asarray(np.sqrt(np.clip(sq, 0.0, None)), dtype=np.float32)
