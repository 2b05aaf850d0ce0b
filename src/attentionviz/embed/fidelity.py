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

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from attentionviz.store.reader import Run

MIN_KEYS = 3


BUCKET_GROWTH = 1.25  # sequences whose lengths differ by less than this factor share one padded batch


@dataclass(frozen=True)
class _Group:
    tokens: np.ndarray  # [S, L] global token index of every position (padding repeats the first token)
    allowed: np.ndarray  # [S, L, L] bool: a real pair the model attends (query i, key j)
    dot_ranks: np.ndarray  # [S, L, L] centred, unit-norm ranks of q.k per row (0 where not allowed)
    valid: np.ndarray  # [S, L] bool: rows with enough keys to rank


class Pairs:
    """Same-sequence query-key pairs of one head, in padded batches of similar length so ranks vectorise."""

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
        for members in _buckets(lengths_arr):
            group_lengths = lengths_arr[members]
            width = int(group_lengths.max())
            positions = np.arange(width)
            inside = positions[None, :] < group_lengths[:, None]  # [S, L]
            tokens = starts_arr[members][:, None] + np.where(inside, positions[None, :], 0)  # [S, L]
            allowed = (
                inside[:, :, None] & inside[:, None, :] & _allowed(width, causal=causal, window=window)[None]
            )
            valid_row = allowed.sum(axis=2) >= MIN_KEYS  # [S, L]
            if not valid_row.any():
                continue
            dots = np.einsum("sid,sjd->sij", q[tokens].astype(np.float64), k[tokens].astype(np.float64))
            dot_ranks, valid = _row_ranks(dots, allowed)
            self.groups.append(_Group(tokens, allowed, dot_ranks, valid & valid_row))
        self.n_sequences = int(sum(int(g.valid.any(axis=1).sum()) for g in self.groups))

    def rho(self, q_at: np.ndarray, k_at: np.ndarray, *, metric: str = "euclidean") -> float:
        """Mean Spearman rho between q.k and the distance from q_at[i] to k_at[j] (NaN if no pairs)."""
        per_sequence = []
        for group in self.groups:
            dist = _pair_distances(q_at[group.tokens], k_at[group.tokens], metric)  # [S, L, L]
            ranks, valid = _row_ranks(dist, group.allowed)
            rows = (group.dot_ranks * ranks).sum(axis=2)  # [S, L] Pearson of the ranks = Spearman
            use = group.valid & valid
            counted = use.sum(axis=1)
            means = np.where(use, rows, 0.0).sum(axis=1) / np.maximum(counted, 1)
            per_sequence.append(means[counted > 0])
        if not per_sequence:
            return float("nan")
        values = np.concatenate(per_sequence)
        return float(values.mean()) if len(values) else float("nan")


def _buckets(lengths: np.ndarray) -> list[np.ndarray]:
    """Sequence indices grouped so that the longest in a group is at most BUCKET_GROWTH x the shortest."""
    order = np.argsort(lengths, kind="stable")
    groups: list[np.ndarray] = []
    first = 0
    for position in range(1, len(order) + 1):
        if position == len(order) or lengths[order[position]] > BUCKET_GROWTH * lengths[order[first]]:
            groups.append(order[first:position])
            first = position
    return groups


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
    """Ranks per row over the allowed entries (ties averaged), centred and scaled to unit norm; 0 elsewhere.

    Also returns which rows could be ranked (not constant)."""
    ranks = _ranks(np.where(allowed, values, np.inf))  # [S, L, L]; the allowed rank first
    count = allowed.sum(axis=2, keepdims=True)
    centred = np.where(allowed, ranks - (count + 1) / 2.0, 0.0)
    norm = np.sqrt((centred * centred).sum(axis=2, keepdims=True))
    ok = norm > 1e-9
    return centred / np.where(ok, norm, 1.0), ok[..., 0]


def _ranks(x: np.ndarray) -> np.ndarray:
    """`scipy.stats.rankdata(x, axis=-1)`: 1-based ranks along the last axis, ties averaged.

    Ranks from one argsort (a third of rankdata's time); rankdata itself only when some row has a tie
    (other than the +inf padding, whose ranks are never used) or a NaN, so the result is the same."""
    order = np.argsort(x, axis=-1)
    ordered = np.take_along_axis(x, order, axis=-1)
    tied = (ordered[..., 1:] == ordered[..., :-1]) & (ordered[..., 1:] != np.inf)
    if tied.any() or np.isnan(ordered[..., -1]).any():  # NaN sorts last
        from scipy.stats import rankdata

        exact: np.ndarray = rankdata(x, axis=-1)
        return exact
    ranks = np.empty(x.shape, dtype=np.float64)
    np.put_along_axis(ranks, order, np.arange(1, x.shape[-1] + 1, dtype=np.float64), axis=-1)
    return ranks


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
    translated = sum(bool(r.get("normalisation", {}).get("translate")) for r in records)
    rule = "chosen per head" if any("rule" in r.get("normalisation", {}) for r in records) else "as requested"
    lines["layouts made from"] = (
        f"translated keys in {translated}/{len(records)} heads, raw keys in the rest ({rule})"
    )
    for space in ("raw", "translated", "translated+scaled"):
        parts = []
        for metric in ("cosine", "euclidean"):
            values = [r["space"][space][metric] for r in records if space in r.get("space", {})]
            if values:
                parts.append(f"{metric} {_signed(_mean(values))}")
        if parts:
            lines[f"{space} vectors"] = ", ".join(parts)
    names = sorted({name for r in records for name in r.get("layouts", {})}, key=_layout_order)
    for name in names:
        rhos = [r["layouts"][name] for r in records if name in r.get("layouts", {})]
        measured = [r["quality"][name] for r in records if name in r.get("quality", {})]
        knn = [m["knn_preservation"] for m in measured if "knn_preservation" in m]
        trust = [m["trustworthiness"] for m in measured if "trustworthiness" in m]
        text = f"rho {_signed(_mean(rhos))}"
        if knn:
            text += f", kNN kept {_mean(knn):.3f}"
        if trust:
            text += f", trustworthiness {_mean(trust):.3f}"
        method, dim = name.split(".")
        lines[f"{method} {dim.upper()}"] = f"{text} ({len(rhos)} heads)"
    notes = sorted({note for r in records for note in r.get("notes", [])})
    if notes:
        lines["notes"] = "; ".join(notes)
    return lines


def _signed(value: float) -> str:
    """+0.123, or n/a where no sequence had enough tokens to rank."""
    return f"{value:+.3f}" if np.isfinite(value) else "n/a"


def _mean(values: list[Any]) -> float:
    finite = [float(v) for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def _layout_order(name: str) -> tuple[int, str]:
    """The registry's order of methods (others last), then the dimension."""
    from attentionviz.embed.reducers import REDUCERS

    method, dim = name.split(".")
    methods = list(REDUCERS)
    return (methods.index(method) if method in methods else len(methods), dim)
