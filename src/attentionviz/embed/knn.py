"""One k-nearest-neighbour graph per head, shared by every method that needs one.

t-SNE uses the first 3 * perplexity neighbours, UMAP the first n_neighbors, and the quality
measures (kNN preservation, trustworthiness) the first 15, so one exact search at the widest k
serves them all.

The search is exact. Up to `BLAS_MAX_POINTS` points it is a blocked matrix product (torch, on
the CPU or the GPU): about as fast as manifolds-rs's exact k-means kNN for 10k points in 32
dimensions, and 1.5-2x faster in 64 or 128, where k-means prunes less. Above that,
manifolds-rs's k-means kNN, whose cost grows more slowly than the product's N^2. Approximate
indexes (HNSW, NN-descent) were slower than both at every size measured (`benchmarks/knn.py`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from attentionviz.errors import AttentionVizError

log = logging.getLogger(__name__)

METRICS = ("cosine", "euclidean")
BLAS_MAX_POINTS = 20_000
_BLOCK_VALUES = 2**24  # similarities per block (64 MB)


@dataclass(frozen=True)
class KnnGraph:
    """Each point's nearest other points, nearest first (the point itself excluded)."""

    indices: np.ndarray  # [M, k] int64
    distances: np.ndarray  # [M, k] float32, true distances in `metric`
    metric: str

    @property
    def k(self) -> int:
        return int(self.indices.shape[1])

    def first(self, k: int) -> KnnGraph:
        """The graph restricted to each point's k nearest neighbours."""
        if k > self.k:
            raise ValueError(f"this graph holds {self.k} neighbours per point, not {k}")
        return KnnGraph(
            np.ascontiguousarray(self.indices[:, :k]),
            np.ascontiguousarray(self.distances[:, :k]),
            self.metric,
        )


def knn_graph(x: np.ndarray, k: int, *, metric: str = "cosine", device: str = "cpu") -> KnnGraph:
    """Exact k nearest neighbours of every row of x [M, D] among the other rows."""
    if metric not in METRICS:
        raise AttentionVizError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if not 0 < k < len(x):
        raise AttentionVizError(f"cannot find {k} neighbours among {len(x)} points; embed more tokens")
    x32 = np.ascontiguousarray(x, dtype=np.float32)
    if device.startswith("cuda") or len(x32) <= BLAS_MAX_POINTS:
        return _knn_blocked(x32, k, metric=metric, device=device)
    import manifolds_rs

    indices, distances = manifolds_rs.knn_graph(x32, k, metric=metric, ann="kmknn", seed=0)
    return KnnGraph(
        np.ascontiguousarray(indices, dtype=np.int64),
        np.maximum(np.ascontiguousarray(distances, dtype=np.float32), 0.0),
        metric,
    )


def _knn_blocked(x: np.ndarray, k: int, *, metric: str, device: str) -> KnnGraph:
    """Exact kNN as blocked similarity products on `device`, O(block * M) memory."""
    import torch

    from attentionviz.embed.threads import threads

    if not device.startswith("cuda"):
        torch.set_num_threads(threads())
    block = max(64, _BLOCK_VALUES // len(x))
    # a read-only array (a memory-mapped head) is copied: torch warns on tensors it cannot write
    points = torch.from_numpy(x if x.flags.writeable else x.copy()).to(device)
    if metric == "cosine":
        points = torch.nn.functional.normalize(points, dim=1)
    sq_norms = (points * points).sum(dim=1)
    found_idx, found_dist = [], []
    for start in range(0, len(points), block):
        rows = points[start : start + block]  # [b, D]
        sims = rows @ points.T  # [b, M]
        own = torch.arange(start, start + len(rows), device=points.device)
        # cosine: the similarity; euclidean: 2 r.p - |p|^2 = |r|^2 - |r - p|^2, larger is nearer
        score = sims if metric == "cosine" else 2 * sims - sq_norms[None, :]
        score[torch.arange(len(rows), device=points.device), own] = -torch.inf
        best, idx = torch.topk(score, k, dim=1)  # [b, k], nearest first
        if metric == "cosine":
            dist = (1.0 - best).clamp_min(0.0)
        else:
            dist = (sq_norms[start : start + len(rows), None] - best).clamp_min(0.0).sqrt()
        found_idx.append(idx.cpu())
        found_dist.append(dist.cpu())
    return KnnGraph(
        torch.cat(found_idx).numpy().astype(np.int64),
        torch.cat(found_dist).numpy().astype(np.float32),
        metric,
    )
