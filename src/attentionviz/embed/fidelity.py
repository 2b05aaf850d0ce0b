"""Fidelity: does distance stand in for attention? (Yeh et al. 2023, Table 1)

For every query i and the keys j it may attend to in its own sequence, the Spearman rank
correlation between q_i . k_j and the distance from q_i to k_j, per query row, averaged over the
rows of a sequence, then over sequences. Strongly negative is good: near keys get large dot
products. The dot products are always the raw ones (translation moves a row's logits by one
constant and scaling changes none, so their ranks are the model's); the distances are measured
between normalised vectors (cosine or euclidean), or between a layout's points (euclidean).

A query row needs at least three keys to rank, so a causal model's first two tokens do not count.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from attentionviz.store.reader import Run

MIN_KEYS = 3


@dataclass(frozen=True)
class _Group:
    tokens: np.ndarray  # [S, L] global token index of every position of S sequences of length L
    allowed: np.ndarray  # [L, L] bool: may query i attend to key j
    dot_ranks: np.ndarray  # [S, L, L] centred, unit-norm ranks of q.k per row (NaN where not allowed)
    valid: np.ndarray  # [S, L] bool: rows with enough keys to rank


class Pairs:
    """Same-sequence query-key pairs of one head, grouped by sequence length so ranks vectorise."""

    def __init__(
        self,
        q: np.ndarray,
        k: np.ndarray,
        starts: Sequence[int] | np.ndarray,
        lengths: Sequence[int] | np.ndarray,
        *,
        causal: bool = False,
        window: int | None = None,
    ) -> None:
        starts_arr = np.asarray(starts, dtype=np.int64)
        lengths_arr = np.asarray(lengths, dtype=np.int64)
        self.causal = causal
        self.groups: list[_Group] = []
        for length in np.unique(lengths_arr):
            if length < MIN_KEYS and not causal:
                continue
            tokens = starts_arr[lengths_arr == length][:, None] + np.arange(length)[None, :]  # [S, L]
            allowed = _allowed(int(length), causal=causal, window=window)
            valid_row = allowed.sum(axis=1) >= MIN_KEYS  # [L]
            if not valid_row.any():
                continue
            dots = np.einsum("sid,sjd->sij", q[tokens].astype(np.float64), k[tokens].astype(np.float64))
            dot_ranks, valid = _row_ranks(dots, allowed)
            self.groups.append(_Group(tokens, allowed, dot_ranks, valid & valid_row[None, :]))
        self.n_sequences = int(sum(len(g.tokens) for g in self.groups))

    def rho(self, q_at: np.ndarray, k_at: np.ndarray, *, metric: str = "euclidean") -> float:
        """Mean Spearman rho between q.k and the distance from q_at[i] to k_at[j] (NaN if no pairs)."""
        per_sequence = []
        for group in self.groups:
            dist = _pair_distances(q_at[group.tokens], k_at[group.tokens], metric)  # [S, L, L]
            ranks, valid = _row_ranks(dist, group.allowed)
            rows = np.nansum(group.dot_ranks * ranks, axis=2)  # [S, L] Pearson of the ranks
            rows = np.where(group.valid & valid, rows, np.nan)
            with _quiet():
                per_sequence.append(np.nanmean(rows, axis=1))
        if not per_sequence:
            return float("nan")
        values = np.concatenate(per_sequence)
        values = values[np.isfinite(values)]
        return float(values.mean()) if len(values) else float("nan")


def _allowed(length: int, *, causal: bool, window: int | None) -> np.ndarray:
    i = np.arange(length)[:, None]
    j = np.arange(length)[None, :]
    allowed = np.ones((length, length), dtype=bool)
    if causal:
        allowed &= j <= i
    if window is not None:
        allowed &= j > i - window
    return allowed


def _row_ranks(values: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centred ranks with unit norm per row over the allowed entries; rows that are constant are invalid."""
    from scipy.stats import rankdata

    masked = np.where(allowed[None, :, :], values, np.nan)
    ranks = rankdata(masked, axis=2, nan_policy="omit")  # [S, L, L], NaN where not allowed
    with _quiet():
        ranks = ranks - np.nanmean(ranks, axis=2, keepdims=True)
        norm = np.sqrt(np.nansum(ranks * ranks, axis=2, keepdims=True))
    valid = norm[..., 0] > 1e-9
    return np.where(norm > 1e-9, ranks / np.where(norm > 1e-9, norm, 1.0), np.nan), valid


def _pair_distances(qs: np.ndarray, ks: np.ndarray, metric: str) -> np.ndarray:
    """[S, L, L] distance from query i to key j of each sequence, qs and ks [S, L, d]."""
    qs = qs.astype(np.float64)
    ks = ks.astype(np.float64)
    if metric == "cosine":
        qs = qs / np.maximum(np.linalg.norm(qs, axis=2, keepdims=True), 1e-12)
        ks = ks / np.maximum(np.linalg.norm(ks, axis=2, keepdims=True), 1e-12)
        cosine: np.ndarray = 1.0 - np.einsum("sid,sjd->sij", qs, ks)
        return cosine
    sq = (qs * qs).sum(axis=2)[:, :, None] + (ks * ks).sum(axis=2)[:, None, :]
    sq -= 2.0 * np.einsum("sid,sjd->sij", qs, ks)
    euclidean: np.ndarray = np.sqrt(np.clip(sq, 0.0, None))
    return euclidean


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence numpy's warnings about all-NaN rows (those rows are dropped on purpose)."""
    with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def summarise(run: Run) -> dict[str, str]:
    """One line per space and layout: mean fidelity (and layout quality) over the run's heads."""
    records = [head.fidelity for head in run.heads()]
    records = [r for r in records if r]
    if not records:
        return {}
    total = run.info.layers * run.info.heads
    lines: dict[str, str] = {
        "heads measured": f"{len(records)}/{total} (Spearman rho of q.k vs q-k distance; -1 is perfect)"
    }
    for space in ("raw", "translated", "translated+scaled"):
        parts = []
        for metric in ("cosine", "euclidean"):
            values = [r["space"][space][metric] for r in records if space in r.get("space", {})]
            if values:
                parts.append(f"{metric} {_mean(values):+.3f}")
        if parts:
            lines[f"{space} vectors"] = ", ".join(parts)
    names = sorted({name for r in records for name in r.get("layouts", {})}, key=_layout_order)
    for name in names:
        rhos = [r["layouts"][name] for r in records if name in r.get("layouts", {})]
        knn = [r["quality"][name]["knn_preservation"] for r in records if name in r.get("quality", {})]
        trust = [r["quality"][name]["trustworthiness"] for r in records if name in r.get("quality", {})]
        text = f"rho {_mean(rhos):+.3f}"
        if knn:
            text += f", kNN kept {_mean(knn):.3f}, trustworthiness {_mean(trust):.3f}"
        method, dim = name.split(".")
        lines[f"{method} {dim.upper()}"] = f"{text} ({len(rhos)} heads)"
    return lines


def _mean(values: list[Any]) -> float:
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _layout_order(name: str) -> tuple[int, str]:
    method, dim = name.split(".")
    return (["tsne", "umap", "pca"].index(method) if method in ("tsne", "umap", "pca") else 9, dim)
