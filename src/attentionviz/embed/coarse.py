"""Coarse layouts first, full layouts refined from them.

A Matrix View cell draws a few hundred to ~1,400 of a head's points: the first rows of the
level-of-detail order (`store.lod`). So `embed` first lays out every head's *level-of-detail
sample* (the first `COARSE_ROWS` rows of that order) and stores it as the head's layout, every
other row placed beside its nearest sampled row; the whole Matrix View is then complete in a
fraction of the time full layouts take. Each full layout is then refined from its coarse one:
the reducer starts from the stored coordinates, and the result is turned, scaled and moved onto
the coarse layout's sample rows (`align`), so a cell sharpens instead of jumping.

    sample = coarse_sample(n_tokens)                  # None: small enough to lay out whole at once
    coarse = spread_evenly(reducer.embed(x[sample], ...))
    start = extend(x, sample, coarse, metric="cosine", seed=0)   # [2N, dim], stored as the layout
    full = align(reducer.refine(x, start, ...), sample, coarse)

A coarse layout is stored in its principal axes with equal spread along each (`spread_evenly`),
because that is the form a reducer's PCA start gives it: the refinement then starts from exactly
what the app drew.
"""

from __future__ import annotations

import numpy as np

from attentionviz.store.lod import cached_lod_order

COARSE_ROWS = 2000  # rows of the LOD sample (1,000 tokens, each as a query and a key)
JITTER = 1e-3  # rows placed beside a sampled row start this far from it (fraction of the spread)


def coarse_sample(n_tokens: int, rows: int = COARSE_ROWS) -> np.ndarray | None:
    """[rows] sorted int64 layout rows of the LOD sample, or None when the head has fewer than
    twice as many rows (its full layout costs little more than a coarse one)."""
    if 2 * n_tokens < 2 * rows:
        return None
    return np.sort(cached_lod_order(n_tokens)[:rows]).astype(np.int64)


def spread_evenly(coords: np.ndarray) -> np.ndarray:
    """[M, dim] centred, turned onto its principal axes, each scaled to the mean spread."""
    centred = np.asarray(coords, dtype=np.float64) - np.mean(coords, axis=0)
    axes = np.linalg.svd(centred, full_matrices=False)[2]  # [dim, dim]
    turned = centred @ axes.T  # [M, dim], principal axes first
    spread = np.maximum(turned.std(axis=0), 1e-12)
    return np.asarray(turned / spread * spread.mean(), dtype=np.float32)


def extend(
    x: np.ndarray, sample: np.ndarray, coords: np.ndarray, *, metric: str, seed: int, block: int = 4096
) -> np.ndarray:
    """[2N, dim]: the sampled rows of x at `coords`, every other row beside its nearest sampled row.

    x: [2N, D] the head's normalised vectors; sample: [M] rows of x; coords: [M, dim].
    """
    points = np.asarray(x, dtype=np.float32)
    if metric == "cosine":
        points = points / np.maximum(np.linalg.norm(points, axis=1, keepdims=True), 1e-12)
    anchors = points[sample]  # [M, D]
    anchor_sq = (anchors * anchors).sum(axis=1)  # [M]
    nearest = np.empty(len(points), dtype=np.int64)
    for start in range(0, len(points), block):
        rows = points[start : start + block]  # [b, D]
        # cosine (unit rows): the largest dot product; euclidean: 2 r.a - |a|^2 = |r|^2 - |r - a|^2
        score = rows @ anchors.T if metric == "cosine" else 2.0 * (rows @ anchors.T) - anchor_sq
        nearest[start : start + len(rows)] = np.argmax(score, axis=1)
    nearest[sample] = np.arange(len(sample))
    out = np.asarray(coords, dtype=np.float32)[nearest]  # [2N, dim]
    others = np.ones(len(points), dtype=bool)
    others[sample] = False
    spread = float(np.asarray(coords).std()) or 1.0
    rng = np.random.default_rng(seed)
    out[others] += rng.normal(scale=JITTER * spread, size=(int(others.sum()), out.shape[1])).astype(
        np.float32
    )
    return out


def align(coords: np.ndarray, rows: np.ndarray, target: np.ndarray) -> np.ndarray:
    """coords [2N, dim] turned (or reflected), scaled uniformly and moved so that coords[rows] lie
    as near `target` [M, dim] as they can (Procrustes). Distances keep their ratios, so every
    neighbourhood and quality measure is unchanged."""
    source = np.asarray(coords, dtype=np.float64)
    fixed = np.asarray(target, dtype=np.float64)
    source_mid, target_mid = source[rows].mean(axis=0), fixed.mean(axis=0)
    a, b = source[rows] - source_mid, fixed - target_mid
    u, singular, vt = np.linalg.svd(a.T @ b)  # [dim, dim]
    scale = singular.sum() / max(float((a * a).sum()), 1e-300)
    return np.asarray((source - source_mid) @ (u @ vt) * scale + target_mid, dtype=np.float32)


def displacement(before: np.ndarray, after: np.ndarray, rows: np.ndarray) -> float:
    """Mean distance the given rows moved between two layouts, each first fitted into a unit box the
    way a Matrix View cell draws it (centred on its bounding box, scaled by its longer side)."""

    def fitted(coords: np.ndarray) -> np.ndarray:
        low, high = coords.min(axis=0), coords.max(axis=0)
        return np.asarray((coords - (low + high) / 2) / max(float((high - low).max()), 1e-12))

    moved = (
        fitted(np.asarray(after, dtype=np.float64))[rows] - fitted(np.asarray(before, dtype=np.float64))[rows]
    )
    return float(np.linalg.norm(moved, axis=1).mean())
