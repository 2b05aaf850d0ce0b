"""What one head does, measured from its derived attention: probe scores, its attention profile by
relative offset, its query/key geometry, and how many keys each query needs.

    probe_scores(probes_run, layer, head)   {"induction": .., "duplicate": ..} on the probes
    profile(run, layer, head)               mean attention at offsets -16..+16, and to the first token
    geometry(q, k)                          dimensionless shape of the query and key clouds
    keys_needed(run, layer, head)           [N] keys holding 90% of each query's attention

The formulas (docs/guide.md has them in one table):

    induction   mean over the second copy's tokens i of a[i, f(i) + 1], f(i) the position of the
                token's first occurrence (Olsson et al. 2022: attention to what followed it before)
    duplicate   mean over the same tokens of a[i, f(i)] (attention to the earlier copy itself)
    offset d    mean over query rows i of a[i, i + d], where 1 <= i + d < len (the first token is
                its own column: `first`, a[i, 0] over rows i >= 1)
"""

from __future__ import annotations

import functools
from typing import Any

import numpy as np

from attentionviz.analysis.attention import derived_attention, sample_sequences
from attentionviz.store.reader import Run

OFFSETS = range(-16, 17)
MASS = 0.9


def probe_layout(run: Run) -> list[tuple[int, int, int]]:
    """(sequence, first position of R, len(R)) of every induction probe of a probes run."""
    found = []
    table = run.sequences
    tokens = run.tokens
    special = tokens["special"].to_numpy(dtype=bool)
    for seq, (source, start, length) in enumerate(
        zip(table["source"], table["token_start"], table["n_tokens"], strict=True)
    ):
        if not str(source).startswith("probe:induction"):
            continue
        flags = special[int(start) : int(start) + int(length)]
        first = int(np.argmin(flags)) if not flags.all() else 0
        content = int((~flags).sum())
        found.append((seq, first, content // 2))
    return found


def probe_scores(probes: Run, layer: int, head: int) -> dict[str, float]:
    """The head's induction and duplicate-token scores on the probes run (NaN without probes)."""
    layout = probe_layout(probes)
    induction, duplicate = [], []
    seqs = [seq for seq, _, _ in layout]
    for (_, first, m), (_, a) in zip(layout, derived_attention(probes, layer, head, seqs), strict=True):
        t = np.arange(m)
        rows = first + m + t  # the second copy
        duplicate.append(a[rows, first + t])
        induction.append(a[rows, first + t + 1])
    if not layout:
        return {"induction": float("nan"), "duplicate": float("nan")}
    return {
        "induction": float(np.concatenate(induction).mean()),
        "duplicate": float(np.concatenate(duplicate).mean()),
    }


@functools.lru_cache(maxsize=256)
def _offset_pairs(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For a [n, n] matrix: the (row, key, offset slot) of every pair at offset -16..+16 whose key is
    not the first token, and how many pairs each slot has."""
    i = np.repeat(np.arange(n), len(OFFSETS))  # [n * 33]
    d = np.tile(np.asarray(OFFSETS), n)
    j = i + d
    keep = (j >= 1) & (j < n)
    slot = (d - OFFSETS[0])[keep]
    return i[keep], j[keep], slot, np.bincount(slot, minlength=len(OFFSETS))


def profile(run: Run, layer: int, head: int, sequences: np.ndarray | None = None) -> dict[str, float]:
    """Mean attention at each relative offset -16..+16 (keys other than the first token) and to
    the first token, over the sampled sequences; keyed "-16" ... "+16" and "first"."""
    sums = np.zeros(len(OFFSETS))
    counts = np.zeros(len(OFFSETS))
    first_sum = first_count = 0.0
    chosen = sample_sequences(run) if sequences is None else sequences
    for _, a in derived_attention(run, layer, head, chosen):
        rows, keys, slot, count = _offset_pairs(len(a))
        sums += np.bincount(slot, weights=a[rows, keys], minlength=len(OFFSETS))
        counts += count
        if len(a) > 1:
            first_sum += float(a[1:, 0].sum())
            first_count += len(a) - 1
    values = np.divide(sums, counts, out=np.full(len(OFFSETS), np.nan), where=counts > 0)
    out = {f"{d:+d}" if d else "0": float(v) for d, v in zip(OFFSETS, values, strict=True)}
    out["first"] = first_sum / first_count if first_count else float("nan")
    return out


def geometry(q: np.ndarray, k: np.ndarray) -> dict[str, float]:
    """The shape of the head's query and key clouds, free of the model's scale:

    norm_ratio      log(mean |q| / mean |k|)
    centroid_gap    |mean q - mean k| / sqrt(mean |q| * mean |k|)
    q_offcentre     |mean q| / mean |q|   (1: every query points the same way; 0: centred)
    k_offcentre     |mean k| / mean |k|
    """
    q = np.asarray(q, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    q_norm = float(np.linalg.norm(q, axis=1).mean())
    k_norm = float(np.linalg.norm(k, axis=1).mean())
    q_mean, k_mean = q.mean(axis=0), k.mean(axis=0)
    tiny = 1e-12
    return {
        "norm_ratio": float(np.log(max(q_norm, tiny) / max(k_norm, tiny))),
        "centroid_gap": float(np.linalg.norm(q_mean - k_mean) / max(np.sqrt(q_norm * k_norm), tiny)),
        "q_offcentre": float(np.linalg.norm(q_mean) / max(q_norm, tiny)),
        "k_offcentre": float(np.linalg.norm(k_mean) / max(k_norm, tiny)),
    }


def keys_for_mass(a: np.ndarray, mass: float = MASS) -> np.ndarray:
    """[len] for each query row of an attention matrix, the fewest keys holding `mass` of it."""
    ordered = -np.sort(-a, axis=1)  # [len, len] each row's weights, largest first
    before = np.cumsum(ordered, axis=1) - ordered  # mass of the larger keys
    needed: np.ndarray = (before < mass * a.sum(axis=1, keepdims=True) - 1e-7).sum(axis=1)
    return needed


def keys_needed(run: Run, layer: int, head: int) -> np.ndarray:
    """[N] float32: keys holding 90% of each query's attention, for every token of the run."""
    out = np.zeros(run.info.n_tokens, dtype=np.float32)
    starts = run.sequences["token_start"].to_numpy(dtype=np.int64)
    for seq, a in derived_attention(run, layer, head):
        out[starts[seq] : starts[seq] + len(a)] = keys_for_mass(a)
    return out


def head_record(run: Run, probes: Run | None, layer: int, head: int) -> dict[str, Any]:
    """Everything the atlas stores for one head (`heads/layers.L.heads.H/atlas.json`)."""
    one = run.head(layer, head)
    q, k = one.queries(), one.keys()  # [N, D] (bfloat16 widened to float32)
    record: dict[str, Any] = {
        "profile": profile(run, layer, head),
        "geometry": geometry(q, k),
    }
    if probes is not None:
        record.update(probe_scores(probes, layer, head))
    return record
