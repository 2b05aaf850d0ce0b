"""Orthogonal Procrustes: the similarity transform that lays one layout over another.

    a = procrustes(source, target)        source, target: [n, d], row i of both is the same point
    a.apply(source) ~= target             x -> scale * x @ rotation + shift
    a.residual                            what no rotation, reflection, scale and shift explains,
                                          in [0, 1]: 1 - (tr S)^2 / (|X|^2 |Y|^2) for centred X, Y
                                          and S the singular values of X^T Y

A layout (t-SNE, UMAP, PCA) is only defined up to rotation, reflection, scale and shift, so two
layouts of the same tokens are compared after aligning one to the other: the Single View aligns B's
head to A's before showing them side by side, layer scrubbing aligns each frame to the one before,
and the residual is the layout part of a head's drift between two runs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Alignment:
    """x -> scale * x @ rotation + shift, taking the source's coordinates onto the target's."""

    rotation: np.ndarray  # [d, d] orthogonal (a reflection when its determinant is -1)
    scale: float
    shift: np.ndarray  # [d]
    residual: float  # in [0, 1]: 0 when the source is an exact similarity image of the target

    def apply(self, points: np.ndarray) -> np.ndarray:
        """[n, d] -> [n, d] in the target's coordinates."""
        aligned: np.ndarray = self.scale * (np.asarray(points, dtype=np.float64) @ self.rotation) + self.shift
        return aligned

    @classmethod
    def identity(cls, dim: int) -> Alignment:
        return cls(np.eye(dim), 1.0, np.zeros(dim), 0.0)


def procrustes(source: np.ndarray, target: np.ndarray, *, reflection: bool = True) -> Alignment:
    """The rotation (and reflection) that best lays `source` over `target` (least squares), with the
    scale that matches their sizes and the shift that matches their centroids.

    Both are [n, d] with row i the same point. Identical inputs give the identity with residual
    exactly 0; a degenerate source (all rows equal) maps to the target's centroid.
    """
    x = np.asarray(source, dtype=np.float64)
    y = np.asarray(target, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"procrustes needs two [n, d] arrays of one shape, got {x.shape} and {y.shape}")
    dim = x.shape[1]
    if np.array_equal(x, y):
        return Alignment.identity(dim)
    mean_x, mean_y = x.mean(axis=0), y.mean(axis=0)
    xc, yc = x - mean_x, y - mean_y  # [n, d]
    norm_x, norm_y = float((xc**2).sum()), float((yc**2).sum())
    if norm_x == 0.0 or norm_y == 0.0:
        return Alignment(np.eye(dim), 0.0, mean_y, 0.0 if norm_y == 0.0 else 1.0)
    u, sigma, vt = np.linalg.svd(xc.T @ yc)  # [d, d]: the cross-covariance of source and target
    if not reflection and np.linalg.det(u @ vt) < 0:
        u[:, -1] *= -1
        sigma = sigma.copy()
        sigma[-1] *= -1
    rotation = u @ vt
    # The scale matches the two clouds' sizes. (The least-squares scale, tr S / |X|^2, is the same
    # for a source that is an exact similarity image of the target, but shrinks a poorly matching
    # source towards its centre, which is no way to show it beside the target.)
    scale = float(np.sqrt(norm_y / norm_x))
    shift = mean_y - scale * (mean_x @ rotation)
    residual = 1.0 - float(sigma.sum()) ** 2 / (norm_x * norm_y)  # of the best scale: 0..1
    return Alignment(rotation, scale, shift, min(max(residual, 0.0), 1.0))
