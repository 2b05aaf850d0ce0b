"""PCA: eigenvectors of the D x D covariance, signs fixed so the largest loading is positive."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from attentionviz.embed.knn import KnnGraph


@dataclass(frozen=True)
class PCA:
    """Principal components of the centred matrix (linear, no neighbours, milliseconds)."""

    name: ClassVar[str] = "pca"
    label: ClassVar[str] = "PCA"
    order: ClassVar[int] = 30
    on_request: ClassVar[tuple[int, ...]] = ()

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


REDUCER = PCA()
