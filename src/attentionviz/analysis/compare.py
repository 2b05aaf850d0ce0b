"""How each head changed between two runs of one architecture over one corpus (checkpoints, fine-tunes,
a model before and after an edit), or, for runs of different models or corpora, which head of B
each head of A matches.

    table = compare(run_a, run_b)     drift: one row per head: layer, head, drift, attention,
                                      fingerprint, layout; or matching (`analysis.matching`)

For every head (l, h) of A and the same head of B, over the sequences both runs captured
(`shared_corpus`: the same token ids):

- `attention`: the mean Jensen-Shannon divergence (base 2, so in [0, 1]) between A's and B's
  attention of each query, over the shared sequences' queries: what the head *does* differently;
- `fingerprint`: how far the head's fingerprint (`analysis.fingerprint`: its metrics and probe
  scores, attention by offset, q/k geometry; standardised over the heads of both runs) moved,
  as d / (d + s) in [0, 1) with s the median distance between two heads of one run: 1/2 when
  the head moved as far as two different heads are apart; what the head *is* differently;
- `layout`: the Procrustes residual (`align.procrustes`, in [0, 1]) of B's layout aligned to A's over
  the shared tokens' query and key rows: how the head's query/key picture moved, beyond rotation,
  reflection, scale and shift;
- `drift`: the mean of the parts a head has, exactly 0 for identical heads (identical attention gives
  JS 0 exactly, identical fingerprints distance 0 exactly, identical layouts residual 0 exactly)
  and at most 1.

Attention is derived from the stored queries and keys (`Head.attention`), never read from a stored
matrix. Runs of two architectures, or with no sequence in common, are matched by fingerprint
instead (`matching.match_heads`): a head index means nothing across models.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from attentionviz.analysis.align import procrustes
from attentionviz.analysis.matching import DEFAULT_MATCHES, MatchReport
from attentionviz.errors import AttentionVizError
from attentionviz.layouts import Layout
from attentionviz.store.reader import Head, Run

if TYPE_CHECKING:
    import pandas as pd

    from attentionviz.analysis.fingerprint import FingerprintSpace

log = logging.getLogger(__name__)

PARTS = ("attention", "fingerprint", "layout")
COLUMNS = ("layer", "head", "drift", *PARTS)
DEFAULT_MAX_TOKENS = 5000  # shared tokens whose attention rows are compared (a seeded sample of sequences)

Progress = Callable[[int, int], None]  # (heads done, heads in all)


@dataclass(frozen=True)
class SharedCorpus:
    """The sequences two runs both captured (same token ids), paired, and their tokens' rows."""

    seq_a: np.ndarray  # [S] sequence index in A
    seq_b: np.ndarray  # [S] the same sequence's index in B
    tokens_a: np.ndarray  # [T] global token rows in A of those sequences, in pairing order
    tokens_b: np.ndarray  # [T] the same tokens' rows in B

    @property
    def n_sequences(self) -> int:
        return len(self.seq_a)

    @property
    def n_tokens(self) -> int:
        return len(self.tokens_a)


def shared_corpus(run_a: Run, run_b: Run) -> SharedCorpus:
    """Pair the sequences of A and B that hold the same token ids (each B sequence used once)."""
    starts_b, _, keys_b = _sequence_keys(run_b)
    by_key: dict[bytes, list[int]] = {}
    for seq, key in enumerate(keys_b):
        by_key.setdefault(key, []).append(seq)
    starts_a, lengths_a, keys_a = _sequence_keys(run_a)
    pairs = [(a, by_key[key].pop(0)) for a, key in enumerate(keys_a) if by_key.get(key)]
    seq_a = np.asarray([a for a, _ in pairs], dtype=np.int64)
    seq_b = np.asarray([b for _, b in pairs], dtype=np.int64)
    lengths = lengths_a[seq_a]
    return SharedCorpus(seq_a, seq_b, _rows(starts_a[seq_a], lengths), _rows(starts_b[seq_b], lengths))


def _sequence_keys(run: Run) -> tuple[np.ndarray, np.ndarray, list[bytes]]:
    """Each sequence's first token row, its length, and its token ids as bytes (what pairs it)."""
    ids = run.tokens["token_id"].to_numpy(dtype=np.int32)
    table = run.sequences
    starts = table["token_start"].to_numpy(dtype=np.int64)
    lengths = table["n_tokens"].to_numpy(dtype=np.int64)
    return starts, lengths, [ids[s : s + n].tobytes() for s, n in zip(starts, lengths, strict=True)]


def _rows(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    if not len(starts):
        return np.zeros(0, dtype=np.int64)
    return np.concatenate([np.arange(s, s + n) for s, n in zip(starts, lengths, strict=True)])


def why_not_comparable(run_a: Run, run_b: Run, shared: SharedCorpus) -> str | None:
    """Why two runs cannot be compared head by head (None when they can): head-by-head comparison
    needs one architecture and some sequences in common."""
    a, b = run_a.info, run_b.info
    shape_a = (a.architecture, a.layers, a.heads, a.kv_heads, a.head_dim)
    shape_b = (b.architecture, b.layers, b.heads, b.kv_heads, b.head_dim)
    if shape_a != shape_b:
        return (
            f"{run_a.path.name} ({a.architecture}, {a.layers}x{a.heads} heads, head dim {a.head_dim}) and "
            f"{run_b.path.name} ({b.architecture}, {b.layers}x{b.heads}, head dim {b.head_dim}) are different architectures; "
            "head-by-head comparison needs two runs of one architecture"
        )
    if not shared.n_sequences:
        return (
            f"{run_a.path.name} and {run_b.path.name} share no sequence (no sequence has the same token ids "
            "in both); build both from the same corpus with the same --seed and --max-tokens"
        )
    return None


def check_comparable(run_a: Run, run_b: Run, shared: SharedCorpus) -> None:
    """Raise `why_not_comparable`'s reason, if any."""
    why = why_not_comparable(run_a, run_b, shared)
    if why:
        raise AttentionVizError(why)


def js_divergence_rows(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """[rows] Jensen-Shannon divergence (base 2, in [0, 1]) between the rows of two [rows, n] distributions.

    Exactly 0 for identical rows: m = (p + p) / 2 == p in floating point, so every term is p log 1.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0)
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0)
    divergence: np.ndarray = np.clip((kl_p.sum(axis=1) + kl_q.sum(axis=1)) / 2, 0.0, 1.0)
    return divergence


def attention_change(
    head_a: Head, head_b: Head, seq_a: Sequence[int] | np.ndarray, seq_b: Sequence[int] | np.ndarray
) -> float:
    """Mean JS divergence of each query's attention in A and in B, over the paired sequences."""
    total, rows = 0.0, 0
    for sa, sb in zip(seq_a, seq_b, strict=True):
        attention_a = head_a.attention(int(sa))  # [len, len]
        attention_b = head_b.attention(int(sb))
        total += float(js_divergence_rows(attention_a, attention_b).sum())
        rows += len(attention_a)
    return total / rows if rows else float("nan")


def layout_change(head_a: Head, head_b: Head, layout: Layout, shared: SharedCorpus) -> float:
    """The Procrustes residual of B's layout aligned to A's over the shared tokens' query and key rows."""
    coords_a = head_a.layout(layout)  # [2N_a, dim]
    coords_b = head_b.layout(layout)  # [2N_b, dim]
    rows_a = np.concatenate([shared.tokens_a, shared.tokens_a + head_a.run.info.n_tokens])
    rows_b = np.concatenate([shared.tokens_b, shared.tokens_b + head_b.run.info.n_tokens])
    return procrustes(coords_b[rows_b], coords_a[rows_a]).residual


def common_layout(run_a: Run, run_b: Run, layout: str | Layout | None = None) -> Layout | None:
    """The layout the layout part uses: the one asked for, else the first 2D layout head 0 of layer 0
    has in both runs, preferring a method made from the vectors alone (no neighbour graph: PCA),
    then the reducer registry's order; None when they have none in common.

    A neighbour embedding (t-SNE, UMAP) places its clusters anew on any change of the vectors, so
    its Procrustes residual is near 1 for a head that barely changed; a linear projection moves only
    as much as the vectors do.
    """
    if layout is not None:
        return Layout.of(layout)
    from attentionviz.embed.reducers import REDUCERS

    shared = set(run_a.head(0, 0).layouts()) & set(run_b.head(0, 0).layouts())
    methods = sorted(REDUCERS, key=lambda name: REDUCERS[name].neighbours() > 0)  # stable: registry order
    for dim in (2, 3):
        for method in methods:
            if Layout(method, dim) in shared:
                return Layout(method, dim)
    return None


def sample_sequences(
    shared: SharedCorpus, run_a: Run, max_tokens: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded sample of the paired sequences holding about `max_tokens` tokens (None: all of them)."""
    if max_tokens is None:
        return shared.seq_a, shared.seq_b
    lengths = run_a.sequences["n_tokens"].to_numpy(dtype=np.int64)[shared.seq_a]
    order = np.random.default_rng(0).permutation(shared.n_sequences)
    keep = order[: max(1, int(np.searchsorted(np.cumsum(lengths[order]), max_tokens, side="right")))]
    keep.sort()
    return shared.seq_a[keep], shared.seq_b[keep]


def compare(
    run_a: Run,
    run_b: Run,
    *,
    layout: str | Layout | None = None,
    max_tokens: int | None = DEFAULT_MAX_TOKENS,
    matches: int = DEFAULT_MATCHES,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """`drift_table` for runs of one architecture over one corpus, else `matching.match_heads`
    (with `matches` nearest heads of B per head of A). `table.attrs["kind"]` says which
    ("drift" or "match"); a matching table's `attrs["why"]` says why it is not a drift table."""
    why = why_not_comparable(run_a, run_b, shared_corpus(run_a, run_b))
    if why is None:
        return drift_table(run_a, run_b, layout=layout, max_tokens=max_tokens, progress=progress)
    from attentionviz.analysis.matching import match_heads

    table = match_heads(run_a, run_b, k=matches)
    table.attrs["why"] = why
    return table


def drift_table(
    run_a: Run,
    run_b: Run,
    *,
    layout: str | Layout | None = None,
    max_tokens: int | None = DEFAULT_MAX_TOKENS,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """One row per head (layer, head order): `drift` and its parts `attention`, `fingerprint` and
    `layout`.

    `layout`: the layout whose Procrustes residual is the layout part (default: the first 2D layout
    both runs have; no layout part when they have none in common). `max_tokens`: compare the
    attention over a seeded sample of the shared sequences holding about that many tokens (None:
    all). `table.attrs` holds what was compared: runs, layout, shared sequences and tokens.
    """
    import pandas as pd

    shared = shared_corpus(run_a, run_b)
    check_comparable(run_a, run_b, shared)
    chosen = common_layout(run_a, run_b, layout)
    seq_a, seq_b = sample_sequences(shared, run_a, max_tokens)
    fingerprint = fingerprint_change(run_a, run_b)  # [layers * heads], layer-major
    info = run_a.info
    rows: list[dict[str, Any]] = []
    total = info.layers * info.heads
    for layer in range(info.layers):
        for head in range(info.heads):
            head_a, head_b = run_a.head(layer, head), run_b.head(layer, head)
            parts = {
                "attention": attention_change(head_a, head_b, seq_a, seq_b),
                "fingerprint": float(fingerprint[len(rows)]),
                "layout": _layout_part(head_a, head_b, chosen, shared),
            }
            rows.append({"layer": layer, "head": head, "drift": drift(parts), **parts})
            if progress:
                progress(len(rows), total)
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table.attrs.update(
        kind="drift",
        run_a=str(run_a.path),
        run_b=str(run_b.path),
        layout=chosen.key if chosen else None,
        shared_sequences=shared.n_sequences,
        shared_tokens=shared.n_tokens,
        compared_sequences=len(seq_a),
    )
    log.info("compared %s with %s: %d heads", run_a.path, run_b.path, len(table))
    return table


def fingerprint_change(run_a: Run, run_b: Run) -> np.ndarray:
    """[layers * heads] (layer-major) how far each head's fingerprint moved from A to B, as
    d / (d + s) in [0, 1): d its distance, s the median distance between two heads of one run.
    Exactly 0 for identical fingerprints; NaN for a head with no fingerprint value in either run
    (nothing analysed yet).

    Every column is standardised over the heads of both runs, the q/k geometry too (the atlas
    standardises it within each run, for runs of different models): one architecture's geometry
    is comparable as it is, and a head whose fingerprint did not change must not move because
    another head of its run did.
    """
    from attentionviz.analysis.fingerprint import FingerprintSpace, fingerprints

    table_a, table_b = fingerprints(run_a), fingerprints(run_b)
    space = FingerprintSpace.fit([table_a, table_b])
    values_a, values_b = (
        t.reindex(columns=list(space.columns)).to_numpy(np.float64) for t in (table_a, table_b)
    )
    x_a, x_b = _standardised(space, values_a), _standardised(space, values_b)  # [H, F]
    moved = np.sqrt(((x_a - x_b) ** 2).sum(axis=1))  # exactly 0 where the rows are equal
    apart = np.concatenate([_off_diagonal(_pairwise(x)) for x in (x_a, x_b)])
    typical = float(np.median(apart)) if len(apart) else 0.0
    # (every head alike: any move at all is a whole move)
    part = moved / (moved + typical) if typical > 0 else np.where(moved > 0, 1.0, 0.0)
    present = np.isfinite(values_a).any(axis=1) | np.isfinite(values_b).any(axis=1)
    found: np.ndarray = np.where(present, part, np.nan)
    return found


def _standardised(space: FingerprintSpace, values: np.ndarray) -> np.ndarray:
    """[H, F] every column standardised with the space's moments over both runs, group-weighted
    (a missing value counts as the mean)."""
    scaled = np.divide(
        values - space.mean, space.spread, out=np.zeros_like(values), where=space.spread > 1e-12
    )
    weighted: np.ndarray = np.where(np.isfinite(values), scaled, 0.0) * space.weight
    return weighted


def _pairwise(x: np.ndarray) -> np.ndarray:
    difference = x[:, None, :] - x[None, :, :]
    distances: np.ndarray = np.sqrt((difference**2).sum(axis=-1))
    return distances


def _off_diagonal(square: np.ndarray) -> np.ndarray:
    off: np.ndarray = square[~np.eye(len(square), dtype=bool)]
    return off


def _layout_part(head_a: Head, head_b: Head, layout: Layout | None, shared: SharedCorpus) -> float:
    if layout is None or layout not in head_a.layouts() or layout not in head_b.layouts():
        return float("nan")
    return layout_change(head_a, head_b, layout, shared)


def drift(parts: dict[str, float]) -> float:
    """The mean of the parts a head has (NaN parts left out): 0 exactly when every part is 0."""
    present = [value for value in parts.values() if not np.isnan(value)]
    return float(sum(present) / len(present)) if present else float("nan")


@dataclass(frozen=True)
class ComparisonReport:
    """What `attentionviz compare` prints: what was compared, then the most changed heads first."""

    table: pd.DataFrame
    top: int | None = 20

    def __str__(self) -> str:
        attrs = self.table.attrs
        ranked = self.table.sort_values(["drift", "layer", "head"], ascending=[False, True, True])
        shown = ranked if not self.top else ranked.head(self.top)
        layout = attrs.get("layout")
        lines = [
            f"A  {attrs['run_a']}",
            f"B  {attrs['run_b']}",
            f"same architecture; {attrs['shared_sequences']:,} shared sequences ({attrs['shared_tokens']:,} tokens), "
            f"attention compared over {attrs['compared_sequences']:,} of them; "
            + (f"layout part from {layout}" if layout else "no layout in common (attention only)"),
            "drift = mean of attention (Jensen-Shannon divergence of each query's attention, 0..1), "
            "fingerprint (how far the head's fingerprint moved, d / (d + typical gap between two heads), 0..1) "
            "and layout (Procrustes residual, 0..1)",
            f"{'most changed heads' if len(shown) < len(ranked) else 'heads, most changed first'}"
            + (f" ({len(shown)} of {len(ranked)}; --top 0 for all)" if len(shown) < len(ranked) else ""),
            f"{'layer':>5} {'head':>4} {'drift':>7} {'attention':>9} {'fingerprint':>11} {'layout':>7}",
        ]
        for row in shown.itertuples():
            lines.append(
                f"{row.layer:>5} {row.head:>4} {_number(row.drift):>7} {_number(row.attention):>9} "
                f"{_number(row.fingerprint):>11} {_number(row.layout):>7}"
            )
        return "\n".join(lines)


def _number(value: Any) -> str:
    return "-" if np.isnan(value) else f"{value:.4f}"


def report_of(table: pd.DataFrame, top: int | None = 20) -> ComparisonReport | MatchReport:
    """What `attentionviz compare` prints for a `compare` table of either kind."""
    if table.attrs.get("kind") == "match":
        return MatchReport(table, top, table.attrs.get("why", ""))
    return ComparisonReport(table, top)
