"""Which heads of one model correspond to which of another: heads matched by their fingerprints.

    table = match_heads(run_a, run_b, k=3)   one row per head of A: its nearest heads of B

Runs of different models (or of one model over different corpora) have no head-by-head drift: a
head index means nothing across models, and attention over different tokens cannot be compared
query by query. What can be compared is what each head does, summed up by its fingerprint
(`analysis.fingerprint`: its metrics, its attention by relative offset, the shape of its query and
key clouds), standardised over the heads of both runs. Each head of A is matched to the heads of B
nearest it in that space; `mutual` says A's head is also the nearest head of A to its match.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from attentionviz.errors import AttentionVizError
from attentionviz.store.reader import Run

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

DEFAULT_MATCHES = 3  # nearest heads of B listed for each head of A
COLUMNS = ("layer", "head", "match_layer", "match_head", "distance", "mutual", "matches")


def fingerprint_tables(run_a: Run, run_b: Run) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both runs' fingerprint tables; a run with no fingerprint at all (no head metrics and no head
    atlas yet) is refused in one line."""
    from attentionviz.analysis.fingerprint import COLUMNS as FEATURES
    from attentionviz.analysis.fingerprint import fingerprints

    tables = fingerprints(run_a), fingerprints(run_b)
    for run, table in zip((run_a, run_b), tables, strict=True):
        if not np.isfinite(table[list(FEATURES)].to_numpy(dtype=np.float64)).any():
            raise AttentionVizError(
                f"{run.path} has no head fingerprints yet (no head metrics, no head atlas); "
                f"run `attentionviz embed {run.path}` first"
            )
    return tables


def match_heads(run_a: Run, run_b: Run, *, k: int = DEFAULT_MATCHES) -> pd.DataFrame:
    """One row per head of A (layer, head order): its nearest head of B (`match_layer`,
    `match_head`, `distance`), whether the match is `mutual`, and `matches`: its `k` nearest heads
    of B as (layer, head, distance), nearest first. `table.attrs` says what was compared and the
    median distance over every pair of heads (what "near" is measured against)."""
    import pandas as pd

    from attentionviz.analysis.fingerprint import FingerprintSpace

    if k < 1:
        raise AttentionVizError(f"the number of matches per head is at least 1, not {k}")
    table_a, table_b = fingerprint_tables(run_a, run_b)
    distances = FingerprintSpace.fit([table_a, table_b]).distances(table_a, table_b)  # [HA, HB]
    heads_a = table_a[["layer", "head"]].to_numpy(dtype=np.int64)
    heads_b = table_b[["layer", "head"]].to_numpy(dtype=np.int64)
    order = np.argsort(distances, axis=1, kind="stable")[:, :k]  # [HA, k]
    nearest_a = np.argmin(distances, axis=0)  # [HB]: each head of B's nearest head of A
    rows = []
    for i, (layer, head) in enumerate(heads_a):
        best = int(order[i, 0])
        rows.append(
            {
                "layer": int(layer),
                "head": int(head),
                "match_layer": int(heads_b[best, 0]),
                "match_head": int(heads_b[best, 1]),
                "distance": float(distances[i, best]),
                "mutual": bool(nearest_a[best] == i),
                "matches": tuple(
                    (int(heads_b[j, 0]), int(heads_b[j, 1]), float(distances[i, j])) for j in order[i]
                ),
            }
        )
    table = pd.DataFrame(rows, columns=list(COLUMNS))
    table.attrs.update(
        kind="match",
        run_a=str(run_a.path),
        run_b=str(run_b.path),
        model_a=run_a.info.model,
        model_b=run_b.info.model,
        heads_b=len(table_b),
        median_distance=float(np.median(distances)),
    )
    log.info("matched %d heads of %s with %d of %s", len(table), run_a.path, len(table_b), run_b.path)
    return table


@dataclass(frozen=True)
class MatchReport:
    """What `attentionviz compare` prints for runs of different models or corpora: the best
    matched heads first, each with its nearest heads of B."""

    table: pd.DataFrame
    top: int | None = 20
    why: str = ""  # why the runs were not compared head by head

    def __str__(self) -> str:
        attrs = self.table.attrs
        ranked = self.table.sort_values(["distance", "layer", "head"])
        shown = ranked if not self.top else ranked.head(self.top)
        lines = [
            f"A  {attrs['run_a']}  ({attrs['model_a']}, {len(self.table)} heads)",
            f"B  {attrs['run_b']}  ({attrs['model_b']}, {attrs['heads_b']} heads)",
            *([self.why] if self.why else []),
            "heads matched by fingerprint (metrics, attention by offset, q/k geometry; standardised over "
            f"both runs): distance of each head of A to its nearest heads of B; median over all pairs "
            f"{attrs['median_distance']:.3f}; * mutual: A's head is also the nearest to its match",
            f"{'best matched heads' if len(shown) < len(ranked) else 'heads, best matched first'}"
            + (f" ({len(shown)} of {len(ranked)}; --top 0 for all)" if len(shown) < len(ranked) else ""),
            f"{'layer':>5} {'head':>4}   nearest heads of B (layer.head distance)",
        ]
        for row in shown.to_dict("records"):
            matches: tuple[tuple[int, int, float], ...] = row["matches"]
            nearest = "  ".join(
                f"{layer}.{head} {distance:.3f}{'*' if i == 0 and row['mutual'] else ''}"
                for i, (layer, head, distance) in enumerate(matches)
            )
            lines.append(f"{row['layer']:>5} {row['head']:>4}   {nearest}")
        return "\n".join(lines)
