"""t-SNE with PCA initialisation and a short, well-scheduled optimisation.

2D   manifolds-rs, FFT-interpolated repulsion (three kernels) from FFT_MIN_POINTS points, Barnes-Hut
     below (the FFT grid costs ~0.5 s whatever the size: 50x slower for 20 points, 1.5x for the
     2,000 of a coarse layout), perplexity 15, 200 epochs of which 70 exaggerated; refined from a
     coarse layout (`embed/coarse.py`): 200 epochs, none exaggerated (the coarse layout already
     holds the global arrangement), at a quarter of the usual learning rate N / 12 (larger steps
     move the rows a Matrix View cell drew first further: 6.0% of the cell on the hardest benchmark
     head at N / 12, 4.4% at N / 48, with as many neighbourhoods kept within 0.02)
3D   openTSNE Barnes-Hut (theta 1.0; FFT interpolation is 2D only), 150 epochs of which 50
     exaggerated; slow for what it adds, so made only when asked for by name (`tsne.3d`)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from attentionviz.embed.knn import KnnGraph
from attentionviz.embed.reducers.base import require_graph, version
from attentionviz.embed.reducers.pca import pca
from attentionviz.embed.threads import threads

FFT_MIN_POINTS = 3000


@dataclass(frozen=True)
class TSNE:
    name: ClassVar[str] = "tsne"
    label: ClassVar[str] = "t-SNE"
    order: ClassVar[int] = 10
    on_request: ClassVar[tuple[int, ...]] = (3,)
    perplexity: float = 15.0
    epochs: int = 200
    exaggeration_epochs: int = 70
    epochs_3d: int = 150
    exaggeration_epochs_3d: int = 50
    theta_3d: float = 1.0
    refine_epochs: int = 200
    refine_learning_rate: float = 1 / 48  # per point

    def neighbours(self) -> int:
        return int(3 * self.perplexity)

    def params(self, dim: int) -> dict[str, Any]:
        if dim == 2:
            return {
                "perplexity": self.perplexity,
                "epochs": self.epochs,
                "exaggeration_epochs": self.exaggeration_epochs,
                "backend": f"manifolds-rs {version('manifolds-rs')}",
                "approx": f"fft_3k (barnes_hut below {FFT_MIN_POINTS} points)",
                "init": "pca",
            }
        return {
            "perplexity": self.perplexity,
            "epochs": self.epochs_3d,
            "exaggeration_epochs": self.exaggeration_epochs_3d,
            "theta": self.theta_3d,
            "backend": f"openTSNE {version('openTSNE')}",
            "approx": "barnes_hut",
            "init": "pca",
        }

    def refine_params(self, dim: int) -> dict[str, Any]:
        return {
            **self.params(dim),
            "epochs": self.refine_epochs,
            "exaggeration_epochs": 0,
            "learning_rate": f"N * {self.refine_learning_rate:.4g}",
            "init": "coarse",
        }

    def embed(
        self, x: np.ndarray, *, dim: int, knn: KnnGraph | None, seed: int, device: str = "cpu"
    ) -> np.ndarray:
        graph = require_graph(knn, self.neighbours(), self.name)
        if dim == 2:
            return self._embed_2d(x, graph, seed=seed, device=device)
        return self._embed_bh(x, graph, dim=dim, seed=seed, device=device)

    def refine(
        self, x: np.ndarray, start: np.ndarray, *, knn: KnnGraph, seed: int, device: str = "cpu"
    ) -> np.ndarray:
        if start.shape[1] != 2:
            raise ValueError("t-SNE refines 2D layouts only")
        graph = require_graph(knn, self.neighbours(), self.name)
        # manifolds-rs starts from the PCA of what it is given, each principal axis scaled to
        # `init_range`: given the start itself (its graph is passed, so nothing else reads it),
        # that is the start, up to a turn that the pipeline's alignment undoes.
        spread = float(np.asarray(start).std(axis=0).mean())
        return self._embed_2d(
            np.ascontiguousarray(start, dtype=np.float32),
            graph,
            seed=seed,
            device=device,
            epochs=(self.refine_epochs, 0),
            init_range=spread,
            learning_rate=max(len(start) * self.refine_learning_rate, 50.0),
        )

    def _embed_2d(
        self,
        x: np.ndarray,
        graph: KnnGraph,
        *,
        seed: int,
        device: str,
        epochs: tuple[int, int] | None = None,
        init_range: float | None = None,
        learning_rate: float | None = None,
    ) -> np.ndarray:
        import manifolds_rs

        total, exaggerated = epochs or (self.epochs, self.exaggeration_epochs)
        settings: dict[str, Any] = {
            "perplexity": min(self.perplexity, graph.k / 3),
            "metric": graph.metric,
            "n_epochs": total,
            "init": "pca",
            "randomised_init": init_range is None,
            "init_range": init_range,
            "learning_rate": learning_rate,
            "seed": seed,
            "optim_params": manifolds_rs.TsneOptim(early_exag_iter=exaggerated),
        }
        if device.startswith("cuda") and manifolds_rs.gpu_available():
            model: Any = manifolds_rs.TSNEGpu(approx="fft_3k_gpu", **settings)
        else:
            approx = "fft_3k" if len(x) >= FFT_MIN_POINTS else "barnes_hut"
            model = manifolds_rs.TSNE(approx=approx, **settings)
        coords = model.fit_transform(x, knn_indices=graph.indices, knn_distances=graph.distances)
        return np.asarray(coords, dtype=np.float32)

    def _embed_bh(self, x: np.ndarray, graph: KnnGraph, *, dim: int, seed: int, device: str) -> np.ndarray:
        import openTSNE
        from openTSNE.affinity import PrecomputedAffinities, joint_probabilities_nn

        affinity = joint_probabilities_nn(
            graph.indices,
            graph.distances,
            [min(self.perplexity, graph.k / 3)],
            symmetrize=True,
            n_jobs=threads(),
        )
        init = pca(x, dim, device=device).astype(np.float64)
        init *= 1e-4 / max(float(init[:, 0].std()), 1e-12)  # openTSNE's convention: PC1 with std 1e-4
        embedding = openTSNE.TSNEEmbedding(
            init,
            PrecomputedAffinities(affinity, normalize=False),
            negative_gradient_method="bh",
            theta=self.theta_3d,
            n_jobs=threads(),
            random_state=seed,
        )
        embedding = embedding.optimize(self.exaggeration_epochs_3d, exaggeration=12, momentum=0.5)
        embedding = embedding.optimize(self.epochs_3d - self.exaggeration_epochs_3d, momentum=0.8)
        return np.asarray(embedding, dtype=np.float32)


REDUCER = TSNE()
