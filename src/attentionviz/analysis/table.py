"""A run's head metrics in one table: the embed step's metrics, the probe scores and importance.

    metrics_table(run)   DataFrame: layer, head, entropy, distance, previous, next, self, first,
                         sparsity, q_norm, k_norm, gap, induction, duplicate[, importance]

One row per head of the run; a metric a head lacks (not embedded or analysed yet) is NaN.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from attentionviz.store import head_outputs
from attentionviz.store.reader import Run

if TYPE_CHECKING:
    import pandas as pd

ATLAS = "atlas"  # heads/layers.L.heads.H/atlas.json: probe scores, attention profile, q/k geometry
PROBE_COLUMNS = ("induction", "duplicate")
#: what each head attends to (the embed step's metrics and the probes'), in the table's order
ATTENTION_METRICS = ("entropy", "distance", "previous", "next", "self", "first", "sparsity", *PROBE_COLUMNS)
ORDER = (*ATTENTION_METRICS, "importance", "q_norm", "k_norm", "gap")


def metrics_table(run: Run) -> pd.DataFrame:
    """Every head's metrics (see the module docstring); columns in ORDER, then any others."""
    import pandas as pd

    from attentionviz.analysis.importance import load_importance

    info = run.info
    importance = load_importance(run)
    rows = []
    for layer in range(info.layers):
        for head in range(info.heads):
            row: dict[str, object] = {"layer": layer, "head": head}
            metrics = head_outputs.load_head_json(run.path, layer, head, "metrics") or {}
            row.update({k: v for k, v in metrics.items() if _scalar(v)})
            atlas = head_outputs.load_head_json(run.path, layer, head, ATLAS) or {}
            row.update({k: atlas[k] for k in PROBE_COLUMNS if k in atlas})
            if importance is not None:
                row["importance"] = float(importance[layer, head])
            rows.append(row)
    table = pd.DataFrame(rows)
    known = [c for c in ORDER if c in table]
    rest = [str(c) for c in table if c not in ("layer", "head", *known)]
    table = table[["layer", "head", *known, *rest]]
    numeric = [str(c) for c in table if c not in ("layer", "head")]
    table[numeric] = table[numeric].apply(pd.to_numeric, errors="coerce").astype(np.float64)
    return table


def _scalar(value: object) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool))
