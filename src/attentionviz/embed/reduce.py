"""Dimensionality reducers behind one small protocol: t-SNE, UMAP and PCA, in 2D and 3D.

Every reducer takes the stacked, normalised [2N, D] matrix of one head, the head's shared kNN
graph (`knn.py`) and a seed, and returns [2N, dim] float32 coordinates. The same seed gives the
same layout. Implementations were chosen by measurement (`benchmarks/layouts.py`):

    t-SNE 2D   manifolds-rs, FFT-interpolated repulsion (three kernels), PCA initialisation,
               perplexity 15, 200 epochs of which 70 exaggerated
    t-SNE 3D   openTSNE Barnes-Hut (theta 1.0; FFT interpolation is 2D only), PCA initialisation,
               150 epochs of which 50 exaggerated
    UMAP       manifolds-rs, reference SGD, 40 epochs x 10 negative samples (3D: 30 x 15), PCA init
    PCA        eigenvectors of the D x D covariance, signs fixed so the largest loading is positive

A new implementation only has to satisfy `Reducer`; register it in `REDUCERS`.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib import metadata
from typing import Any, ClassVar, Protocol

import numpy as np

from attentionviz.embed.knn import KnnGraph
from attentionviz.errors import AttentionVizError

log = logging.getLogger(__name__)


class Reducer(Protocol):
    """What the pipeline needs from a layout method."""

    name: ClassVar[str]

    def neighbours(self) -> int:
        """How many nearest neighbours per point this reducer reads from the shared graph (0: none)."""
        ...

    def params(self, dim: int) -> dict[str, Any]:
        """The settings that produced a layout, stored in its metadata."""
        ...

    def embed(
        self, x: np.ndarray, *, dim: int, knn: KnnGraph | None, seed: int, device: str = "cpu"
    ) -> np.ndarray:
        """[2N, D] -> [2N, dim] float32."""
        ...


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


@dataclass(frozen=True)
class PCA:
    """Principal components of the centred matrix (linear, no neighbours, milliseconds)."""

    name: ClassVar[str] = "pca"

    def neighbours(self) -> int:
        return 0

    def params(self, dim: int) -> dict[str, Any]:
        return {"backend": "numpy"}

    def embed(
        self, x: np.ndarray, *, dim: int, knn: KnnGraph | None, seed: int, device: str = "cpu"
    ) -> np.ndarray:
        return pca(x, dim, device=device)


def pca(x: np.ndarray, dim: int, *, device: str = "cpu") -> np.ndarray:
    """[M, D] -> [M, dim] principal-component scores, deterministic in sign."""
    if device.startswith("cuda"):
        import torch

        centred_t = torch.from_numpy(np.asarray(x, dtype=np.float32)).to(device, torch.float64)
        centred_t -= centred_t.mean(dim=0)
        _, _, vt_t = torch.linalg.svd(centred_t, full_matrices=False)
        components = vt_t[:dim].cpu().numpy()
        centred = centred_t.cpu().numpy()
    else:
        centred = np.asarray(x, dtype=np.float64)
        centred = centred - centred.mean(axis=0)
        # The D x D covariance is tiny (D = head_dim), so its eigenvectors are cheaper than an SVD of 2N rows.
        cov = centred.T @ centred  # [D, D]
        _, vectors = np.linalg.eigh(cov)
        components = vectors[:, ::-1][:, :dim].T  # [dim, D], largest variance first
    rows = np.arange(len(components))
    signs = np.sign(components[rows, np.abs(components).argmax(axis=1)])
    components = components * np.where(signs == 0, 1.0, signs)[:, None]
    scores: np.ndarray = (centred @ components.T).astype(np.float32)  # [M, dim]
    if scores.shape[1] < dim:  # fewer features than dimensions: pad with zeros
        scores = np.pad(scores, ((0, 0), (0, dim - scores.shape[1])))
    return scores


@dataclass(frozen=True)
class TSNE:
    """t-SNE with PCA initialisation and a short, well-scheduled optimisation."""

    name: ClassVar[str] = "tsne"
    perplexity: float = 15.0
    epochs: int = 200
    exaggeration_epochs: int = 70
    epochs_3d: int = 150
    exaggeration_epochs_3d: int = 50
    theta_3d: float = 1.0

    def neighbours(self) -> int:
        return int(3 * self.perplexity)

    def params(self, dim: int) -> dict[str, Any]:
        if dim == 2:
            return {
                "perplexity": self.perplexity,
                "epochs": self.epochs,
                "exaggeration_epochs": self.exaggeration_epochs,
                "backend": f"manifolds-rs {_version('manifolds-rs')}",
                "approx": "fft_3k",
                "init": "pca",
            }
        return {
            "perplexity": self.perplexity,
            "epochs": self.epochs_3d,
            "exaggeration_epochs": self.exaggeration_epochs_3d,
            "theta": self.theta_3d,
            "backend": f"openTSNE {_version('openTSNE')}",
            "approx": "barnes_hut",
            "init": "pca",
        }

    def embed(
        self, x: np.ndarray, *, dim: int, knn: KnnGraph | None, seed: int, device: str = "cpu"
    ) -> np.ndarray:
        graph = _require(knn, self.neighbours(), self.name)
        if dim == 2:
            return self._embed_2d(x, graph, seed=seed, device=device)
        return self._embed_bh(x, graph, dim=dim, seed=seed, device=device)

    def _embed_2d(self, x: np.ndarray, graph: KnnGraph, *, seed: int, device: str) -> np.ndarray:
        import manifolds_rs

        settings: dict[str, Any] = {
            "perplexity": min(self.perplexity, graph.k / 3),
            "metric": graph.metric,
            "n_epochs": self.epochs,
            "init": "pca",
            "seed": seed,
            "optim_params": manifolds_rs.TsneOptim(early_exag_iter=self.exaggeration_epochs),
        }
        if device.startswith("cuda") and manifolds_rs.gpu_available():
            model: Any = manifolds_rs.TSNEGpu(approx="fft_3k_gpu", **settings)
        else:
            model = manifolds_rs.TSNE(approx="fft_3k", **settings)
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
            n_jobs=_threads(),
        )
        init = pca(x, dim, device=device).astype(np.float64)
        init *= 1e-4 / max(float(init[:, 0].std()), 1e-12)  # openTSNE's convention: PC1 with std 1e-4
        embedding = openTSNE.TSNEEmbedding(
            init,
            PrecomputedAffinities(affinity, normalize=False),
            negative_gradient_method="bh",
            theta=self.theta_3d,
            n_jobs=_threads(),
            random_state=seed,
        )
        embedding = embedding.optimize(self.exaggeration_epochs_3d, exaggeration=12, momentum=0.5)
        embedding = embedding.optimize(self.epochs_3d - self.exaggeration_epochs_3d, momentum=0.8)
        return np.asarray(embedding, dtype=np.float32)


@dataclass(frozen=True)
class UMAP:
    """UMAP on the shared graph: reference SGD with more negative samples and far fewer epochs.

    Measured on MiniLM heads (benchmarks/layouts.py), 40 epochs x 10 negatives (2D) and 30 x 15 (3D)
    keep as many 15-neighbourhoods as umap-learn's defaults (200 epochs x 5).
    """

    name: ClassVar[str] = "umap"
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
            "backend": f"manifolds-rs {_version('manifolds-rs')}",
            "optimiser": "sgd",
            "init": "pca",
        }

    def embed(
        self, x: np.ndarray, *, dim: int, knn: KnnGraph | None, seed: int, device: str = "cpu"
    ) -> np.ndarray:
        import manifolds_rs

        graph = _require(knn, self.n_neighbors, self.name)
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


REDUCERS: dict[str, Reducer] = {"tsne": TSNE(), "umap": UMAP(), "pca": PCA()}


def get_reducer(method: str) -> Reducer:
    try:
        return REDUCERS[method]
    except KeyError:
        raise AttentionVizError(f"unknown layout {method!r}; choose from {', '.join(REDUCERS)}") from None


def _require(knn: KnnGraph | None, k: int, name: str) -> KnnGraph:
    """The first k neighbours of the shared graph (all of them for a run too small to have k)."""
    if knn is None or knn.k < min(k, 3):
        raise ValueError(
            f"{name} needs a kNN graph of {k} neighbours per point, got {0 if knn is None else knn.k}"
        )
    return knn.first(min(k, knn.k))


_THREADS: list[int] = []


def _threads() -> int:
    if _THREADS:
        return _THREADS[-1]
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def set_threads(n: int) -> None:
    """Cap the threads the native reducers use in this process (a pool runs one process per core)."""
    import manifolds_rs
    from threadpoolctl import threadpool_limits

    _THREADS.append(max(1, n))
    manifolds_rs.set_num_threads(max(1, n))
    threadpool_limits(max(1, n))  # BLAS / OpenMP pools of numpy and scipy
