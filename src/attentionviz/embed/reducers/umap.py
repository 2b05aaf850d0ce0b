"""UMAP on the shared graph: manifolds-rs's reference SGD with the Cauchy kernel, many negatives.

The low-dimensional similarity is 1 / (1 + a d^(2b)) with a = b = 1 (the kernel t-SNE uses)
instead of the curve fitted to `min_dist`: its gradient needs no powers, so an epoch costs about
a quarter as much, and 120 epochs x 30 negative samples cost what 40 x 10 did. Measured on the
MiniLM heads of `benchmarks/layouts.py` (2 cores), that keeps more 15-neighbourhoods and is more
trustworthy than umap-learn's defaults (500 epochs x 5 at this size), in 2D on every head (refined
from a coarse layout, `embed/coarse.py`) and in 3D on two of three (the third keeps fewer of its
neighbourhoods, though more than before).

A refinement starts from a coarse layout: 100 epochs x 25 negatives at learning rate 0.2 (the
layout is near already: larger steps move the sample rows the app drew first further than the
4.7-4.8% of the cell measured on the benchmark heads).
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
    kernel: tuple[float, float] = (1.0, 1.0)  # a, b of 1 / (1 + a d^(2b))
    epochs: int = 120
    negative_sample_rate: int = 30
    refine_epochs: int = 100
    refine_negative_sample_rate: int = 25
    refine_learning_rate: float = 0.2

    def neighbours(self) -> int:
        return self.n_neighbors

    def params(self, dim: int) -> dict[str, Any]:
        return {
            "n_neighbors": self.n_neighbors,
            "a": self.kernel[0],
            "b": self.kernel[1],
            "epochs": self.epochs,
            "negative_sample_rate": self.negative_sample_rate,
            "backend": f"manifolds-rs {version('manifolds-rs')}",
            "optimiser": "sgd",
            "init": "pca",
        }

    def refine_params(self, dim: int) -> dict[str, Any]:
        return {
            **self.params(dim),
            "epochs": self.refine_epochs,
            "negative_sample_rate": self.refine_negative_sample_rate,
            "learning_rate": self.refine_learning_rate,
            "init": "coarse",
        }

    def embed(
        self, x: np.ndarray, *, dim: int, knn: KnnGraph | None, seed: int, device: str = "cpu"
    ) -> np.ndarray:
        return self._fit(x, knn, dim=dim, seed=seed, epochs=self.epochs, negatives=self.negative_sample_rate)

    def refine(
        self, x: np.ndarray, start: np.ndarray, *, knn: KnnGraph, seed: int, device: str = "cpu"
    ) -> np.ndarray:
        # As t-SNE's refine: handed the start itself, manifolds-rs's PCA start is the start.
        return self._fit(
            np.ascontiguousarray(start, dtype=np.float32),
            knn,
            dim=start.shape[1],
            seed=seed,
            epochs=self.refine_epochs,
            negatives=self.refine_negative_sample_rate,
            learning_rate=self.refine_learning_rate,
            init_range=float(np.asarray(start).std(axis=0).mean()),
        )

    def _fit(
        self,
        x: np.ndarray,
        knn: KnnGraph | None,
        *,
        dim: int,
        seed: int,
        epochs: int,
        negatives: int,
        learning_rate: float = 1.0,
        init_range: float | None = None,
    ) -> np.ndarray:
        import manifolds_rs

        graph = require_graph(knn, self.n_neighbors, self.name)
        model = manifolds_rs.UMAP(
            dim,
            n_neighbors=graph.k,
            metric=graph.metric,
            n_epochs=epochs,
            learning_rate=learning_rate,
            optimiser="sgd",
            init="pca",
            init_range=init_range,
            seed=seed,
            optim_params=manifolds_rs.UmapOptim(
                a=self.kernel[0], b=self.kernel[1], neg_sample_rate=negatives
            ),
        )
        coords = model.fit_transform(x, knn_indices=graph.indices, knn_distances=graph.distances)
        return np.asarray(coords, dtype=np.float32)


REDUCER = UMAP()
