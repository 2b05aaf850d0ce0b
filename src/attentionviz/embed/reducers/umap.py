"""UMAP on the shared graph: manifolds-rs's reference SGD with more negative samples and far fewer epochs.

Measured on MiniLM heads (benchmarks/layouts.py), 40 epochs x 10 negatives (2D) and 30 x 15 (3D)
keep as many 15-neighbourhoods as umap-learn's defaults (200 epochs x 5).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from attentionviz.embed.knn import KnnGraph
from attentionviz.embed.reducers.base import require_graph, version


@dataclass(frozen=True)
class UMAP:
    name: ClassVar[str] = "umap"
    label: ClassVar[str] = "UMAP"
    order: ClassVar[int] = 20
    on_request: ClassVar[tuple[int, ...]] = ()
    n_neighbors: int = 15
    min_dist: float = 0.1
    epochs: tuple[int, int] = (40, 30)  # 2D, 3D
    negative_sample_rate: tuple[int, int] = (10, 15)  # 2D, 3D

    def neighbours(self) -> int:
        return self.n_neighbors

    def params(self, dim: int) -> dict[str, Any]:
        return {
            "n_neighbors": self.n_neighbors,
            "min_dist": self.min_dist,
            "epochs": self.epochs[min(dim, 3) - 2],
            "negative_sample_rate": self.negative_sample_rate[min(dim, 3) - 2],
            "backend": f"manifolds-rs {version('manifolds-rs')}",
            "optimiser": "sgd",
            "init": "pca",
        }

    def embed(
        self, x: np.ndarray, *, dim: int, knn: KnnGraph | None, seed: int, device: str = "cpu"
    ) -> np.ndarray:
        import manifolds_rs

        graph = require_graph(knn, self.n_neighbors, self.name)
        model = manifolds_rs.UMAP(
            dim,
            n_neighbors=graph.k,
            metric=graph.metric,
            min_dist=self.min_dist,
            n_epochs=self.epochs[min(dim, 3) - 2],
            optimiser="sgd",
            init="pca",
            seed=seed,
            optim_params=manifolds_rs.UmapOptim(neg_sample_rate=self.negative_sample_rate[min(dim, 3) - 2]),
        )
        coords = model.fit_transform(x, knn_indices=graph.indices, knn_distances=graph.distances)
        return np.asarray(coords, dtype=np.float32)


REDUCER = UMAP()
