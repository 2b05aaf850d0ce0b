"""Head fingerprints: one vector per head, with named columns, comparable across heads and runs.

    table = fingerprints(run)                      # DataFrame: layer, head, then one column per feature
    space = FingerprintSpace.fit([table_a, table_b])   # standardise over every head of both runs
    d = space.distances(table_a, table_b)          # [heads of a, heads of b] euclidean distances

A fingerprint joins three groups of features:

- metrics: entropy, distance, previous, next, self, first, sparsity (the embed step's head
  metrics) and induction, duplicate (the probes);
- profile: the head's mean attention at each relative offset -16 .. +16 and to the first token;
- geometry: the shape of its query and key clouds (norm ratio, centroid gap, how far each cloud
  sits off the origin) and its fidelity (Spearman rho of q.k against cosine distance).

Every column is standardised to mean 0 and deviation 1 (a missing value counts as the mean): the
metrics and the profile over all the heads being compared, the geometry within each run, because
how a model's query and key clouds sit depends on its architecture (rotary encoding, where its
norms are) more than on what a head does, so only a head's geometry relative to the other heads
of its model is compared across models. Each group is then weighted by w / sqrt(its columns):
w = 1 for the metrics and the profile (what the head attends to), 1/2 for the geometry. On MiniLM
and SmolLM2 (1,500 Wikipedia tokens each) the two strongest previous-token heads are each other's
nearest head of the other model; with the geometry standardised over both models at full weight
they were farther apart than the median pair of their heads. Distances are euclidean in that
space. Importance is not part of a fingerprint: it depends on the corpus and the loss, not on what
the head does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from attentionviz.analysis.scores import OFFSETS
from attentionviz.analysis.table import ATLAS, ATTENTION_METRICS
from attentionviz.store import head_outputs
from attentionviz.store.reader import Run

if TYPE_CHECKING:
    import pandas as pd

METRIC_COLUMNS = ATTENTION_METRICS
PROFILE_COLUMNS = (*(f"attn.{d:+d}" if d else "attn.0" for d in OFFSETS), "attn.first")
GEOMETRY_COLUMNS = ("qk.norm_ratio", "qk.centroid_gap", "qk.q_offcentre", "qk.k_offcentre", "qk.fidelity")
GROUPS = {"metrics": METRIC_COLUMNS, "profile": PROFILE_COLUMNS, "geometry": GEOMETRY_COLUMNS}
GROUP_WEIGHTS = {"metrics": 1.0, "profile": 1.0, "geometry": 0.5}
WITHIN_RUN = frozenset(GEOMETRY_COLUMNS)  # standardised within each run, not over all runs
COLUMNS = METRIC_COLUMNS + PROFILE_COLUMNS + GEOMETRY_COLUMNS


def head_features(run: Run, layer: int, head: int) -> dict[str, float]:
    """One head's fingerprint as {column: value}; NaN where the run lacks it (not analysed yet)."""
    metrics = head_outputs.load_head_json(run.path, layer, head, "metrics") or {}
    atlas = head_outputs.load_head_json(run.path, layer, head, ATLAS) or {}
    fidelity = head_outputs.load_head_json(run.path, layer, head, "fidelity") or {}
    row = {name: _number(metrics.get(name, atlas.get(name))) for name in METRIC_COLUMNS}
    profile = atlas.get("profile", {})
    for column in PROFILE_COLUMNS:
        row[column] = _number(profile.get(column.removeprefix("attn.")))
    geometry = atlas.get("geometry", {})
    for column in GEOMETRY_COLUMNS[:-1]:
        row[column] = _number(geometry.get(column.removeprefix("qk.")))
    space = fidelity.get("space", {})
    cosine = space.get("translated", space.get("raw", {})) if isinstance(space, dict) else {}
    row["qk.fidelity"] = _number(cosine.get("cosine") if isinstance(cosine, dict) else None)
    return row


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else float("nan")


def fingerprints(run: Run) -> pd.DataFrame:
    """Every head's fingerprint: columns layer, head, then COLUMNS (raw values, NaN where missing)."""
    import pandas as pd

    info = run.info
    rows = [
        {"layer": layer, "head": head, **head_features(run, layer, head)}
        for layer in range(info.layers)
        for head in range(info.heads)
    ]
    return pd.DataFrame(rows, columns=["layer", "head", *COLUMNS])


def _moments(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """([F] mean, [F] deviation) of each column's finite values (0 where a column has none)."""
    present = np.isfinite(values)
    counts = present.sum(axis=0)
    width = values.shape[1]
    mean = np.divide(
        np.where(present, values, 0.0).sum(axis=0), counts, out=np.zeros(width), where=counts > 0
    )
    squares = (np.where(present, values - mean, 0.0) ** 2).sum(axis=0)
    return mean, np.sqrt(np.divide(squares, counts, out=np.zeros(width), where=counts > 0))


def _standardised(values: np.ndarray, mean: np.ndarray, spread: np.ndarray) -> np.ndarray:
    scaled = np.divide(values - mean, spread, out=np.zeros_like(values), where=spread > 1e-12)
    return np.where(np.isfinite(values), scaled, 0.0)


@dataclass(frozen=True)
class FingerprintSpace:
    """Column means and deviations fitted on a set of runs' heads, and the group weights.

    Transform whole runs' tables: the geometry columns are standardised within the table given.
    """

    columns: tuple[str, ...]
    mean: np.ndarray  # [F] over every head fitted (unused for the within-run columns)
    spread: np.ndarray  # [F]; 0 for a column with no spread (it adds nothing)
    weight: np.ndarray  # [F] group weight / sqrt(group size)

    @classmethod
    def fit(cls, tables: Sequence[pd.DataFrame]) -> FingerprintSpace:
        mean, spread = _moments(np.concatenate([_values(t) for t in tables]))  # over every head
        weight = np.array([GROUP_WEIGHTS[_group(c)] / np.sqrt(len(GROUPS[_group(c)])) for c in COLUMNS])
        return cls(COLUMNS, mean, spread, weight)

    def transform(self, table: pd.DataFrame) -> np.ndarray:
        """[heads, F] standardised, group-weighted fingerprints of one run's table."""
        values = _values(table)
        out = _standardised(values, self.mean, self.spread)
        within = [i for i, c in enumerate(self.columns) if c in WITHIN_RUN]
        if len(values) > 1:
            run_mean, run_spread = _moments(values[:, within])
            out[:, within] = _standardised(values[:, within], run_mean, run_spread)
        else:
            out[:, within] = 0.0
        weighted: np.ndarray = out * self.weight
        return weighted

    def distances(self, a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
        """[len(a), len(b)] euclidean distances between the heads of `a` and those of `b`."""
        x, y = self.transform(a), self.transform(b)
        squared = (x**2).sum(axis=1)[:, None] + (y**2).sum(axis=1)[None, :] - 2 * x @ y.T
        found: np.ndarray = np.sqrt(np.maximum(squared, 0.0))
        return found


def _values(table: pd.DataFrame) -> np.ndarray:
    values: np.ndarray = table.reindex(columns=list(COLUMNS)).to_numpy(dtype=np.float64)
    return values


def _group(column: str) -> str:
    return next(name for name, columns in GROUPS.items() if column in columns)


def distances(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    """Fingerprint distances between the heads of two runs' tables, standardised over both."""
    return FingerprintSpace.fit([a, b]).distances(a, b)
