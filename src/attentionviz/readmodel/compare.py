"""The records of compare mode and scrubbing: how each head changed between two runs, and the
Procrustes transforms that lay one layout over another so a token keeps its place on screen.

    comparison(scope, run, other)                 drift of every head (`analysis.compare`), or
                                                  each head's nearest heads of another model
    compare_alignments(scope, run, other, layout) the other run's head (l, h) laid over this run's
    run_alignments(scope, run, layout)            head (l, h) laid over (l - 1, h) and over (l, h - 1)

Each is computed once per state of the run folders (manifest and head 0's layouts) and cached.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from attentionviz.analysis import compare as analysis
from attentionviz.analysis.align import Alignment, procrustes
from attentionviz.analysis.series import training_step
from attentionviz.errors import AttentionVizError, RunNotFound
from attentionviz.layouts import Layout
from attentionviz.readmodel.layouts import check_layout
from attentionviz.readmodel.models import (
    Alignments,
    Comparison,
    HeadAlignment,
    HeadDrift,
    HeadMatch,
    Transform,
)
from attentionviz.readmodel.scope import Scope
from attentionviz.store import names
from attentionviz.store.reader import Run


def comparison(scope: Scope, run_id: str, other_id: str) -> Comparison:
    run, other = scope.run(run_id), scope.run(other_id)
    table = _compared(str(run.path), _state(run), str(other.path), _state(other))
    shown = [row for row in table.to_dict("records") if scope.shows(run, int(row["layer"]), int(row["head"]))]
    attrs = table.attrs
    if attrs["kind"] == "match":
        return Comparison(
            run=run_id,
            other=other_id,
            kind="match",
            why=attrs["why"],
            layout=None,
            shared_sequences=0,
            shared_tokens=0,
            compared_sequences=0,
            heads=[_matched(row) for row in shown],
        )
    return Comparison(
        run=run_id,
        other=other_id,
        kind="drift",
        why="",
        layout=attrs["layout"],
        shared_sequences=attrs["shared_sequences"],
        shared_tokens=attrs["shared_tokens"],
        compared_sequences=attrs["compared_sequences"],
        heads=[
            HeadDrift(
                layer=int(row["layer"]),
                head=int(row["head"]),
                drift=_finite(row["drift"]),
                attention=_finite(row["attention"]),
                fingerprint=_finite(row["fingerprint"]),
                layout=_finite(row["layout"]),
                matches=[],
            )
            for row in shown
        ],
    )


def _matched(row: dict[str, Any]) -> HeadDrift:
    """A head of a matching table: its nearest heads of the other run."""
    return HeadDrift(
        layer=int(row["layer"]),
        head=int(row["head"]),
        drift=None,
        attention=None,
        fingerprint=None,
        layout=None,
        matches=[
            HeadMatch(layer=layer, head=head, distance=distance) for layer, head, distance in row["matches"]
        ],
    )


def compare_alignments(scope: Scope, run_id: str, other_id: str, layout: Layout) -> Alignments:
    """For every head shown, the transform laying the other run's head (l, h) over this run's."""
    check_layout(layout)
    run, other = scope.run(run_id), scope.run(other_id)
    shared = _shared(str(run.path), _state(run), str(other.path), _state(other))
    analysis.check_comparable(run, other, shared)
    rows_a = np.concatenate([shared.tokens_a, shared.tokens_a + run.info.n_tokens])
    rows_b = np.concatenate([shared.tokens_b, shared.tokens_b + other.info.n_tokens])
    heads = []
    for layer, head in scope.heads(run):
        coords_a, coords_b = _layout(run, layer, head, layout), _layout(other, layer, head, layout)
        transform = None
        if coords_a is not None and coords_b is not None:
            transform = _transform(procrustes(coords_b[rows_b], coords_a[rows_a]))
        heads.append(HeadAlignment(layer=layer, head=head, other=transform))
    _check_some(heads, run_id, layout)
    return Alignments(run=run_id, other=other_id, layout=layout.key, heads=heads)


def run_alignments(scope: Scope, run_id: str, layout: Layout) -> Alignments:
    """For every head shown, the transforms laying it over the head above it and the head left of it."""
    check_layout(layout)
    run = scope.run(run_id)
    shown = scope.heads(run)
    cache: dict[tuple[int, int], np.ndarray | None] = {}

    def coords(layer: int, head: int) -> np.ndarray | None:
        if (layer, head) not in cache:
            cache[(layer, head)] = (
                _layout(run, layer, head, layout) if scope.shows(run, layer, head) else None
            )
        return cache[(layer, head)]

    def onto(source: tuple[int, int], target: tuple[int, int]) -> Transform | None:
        a, b = coords(*source), coords(*target)
        return None if a is None or b is None else _transform(procrustes(a, b))

    heads = [
        HeadAlignment(
            layer=layer,
            head=head,
            previous_layer=onto((layer, head), (layer - 1, head)) if layer > 0 else None,
            previous_head=onto((layer, head), (layer, head - 1)) if head > 0 else None,
        )
        for layer, head in shown
    ]
    if not any(coords(layer, head) is not None for layer, head in shown):
        raise RunNotFound(f"no head of {run_id} has a {layout.key} layout")
    return Alignments(run=run_id, other=None, layout=layout.key, heads=heads)


def _check_some(heads: list[HeadAlignment], run_id: str, layout: Layout) -> None:
    if not any(h.other is not None for h in heads):
        raise RunNotFound(f"no head has a {layout.key} layout in both {run_id} and the run compared with")


def comparable(scope: Scope, run_id: str, other_id: str) -> bool:
    """Whether two runs can be compared head by head (one architecture, some sequences in common)."""
    run, other = scope.run(run_id), scope.run(other_id)
    shared = _shared(str(run.path), _state(run), str(other.path), _state(other))
    return analysis.why_not_comparable(run, other, shared) is None


def matchable(scope: Scope, run_id: str, other_id: str) -> bool:
    """Whether two runs' heads can be matched by fingerprint (both have fingerprints)."""
    from attentionviz.analysis.matching import fingerprint_tables

    try:
        fingerprint_tables(scope.run(run_id), scope.run(other_id))
    except AttentionVizError:
        return False
    return True


def compare_pairs(scope: Scope, run_id: str) -> Iterator[dict[str, Any]]:
    """The comparisons a static export writes for `run_id`: with every run it can be compared with
    head by head or matched with by fingerprint, except that
    within a training series only consecutive steps (what scrubbing shows) and each step with the
    first one (the model before training) are compared."""
    steps = {other: training_step(scope.run(other)) for other in scope.run_ids()}
    mine = steps[run_id]
    for other, theirs in steps.items():
        if other == run_id:
            continue
        if mine is not None and theirs is not None and mine[0] == theirs[0]:
            series = sorted(s[1] for s in steps.values() if s is not None and s[0] == mine[0])
            low, high = sorted((mine[1], theirs[1]))
            if low != series[0] and series.index(high) - series.index(low) > 1:
                continue
        if comparable(scope, run_id, other) or matchable(scope, run_id, other):
            yield {"run": run_id, "other": other}


def _state(run: Run) -> tuple[int, tuple[str, ...]]:
    """What the cached results depend on: the manifest, and which layouts the runs have (an embed
    may still be adding them)."""
    stamp = (run.path / names.MANIFEST).stat().st_mtime_ns
    return stamp, tuple(layout.key for layout in run.head(0, 0).layouts())


@functools.lru_cache(maxsize=16)
def _compared(path_a: str, state_a: Any, path_b: str, state_b: Any) -> Any:
    return analysis.compare(Run(path_a), Run(path_b))


@functools.lru_cache(maxsize=16)
def _shared(path_a: str, state_a: Any, path_b: str, state_b: Any) -> analysis.SharedCorpus:
    return analysis.shared_corpus(Run(path_a), Run(path_b))


def _layout(run: Run, layer: int, head: int, layout: Layout) -> np.ndarray | None:
    head_ = run.head(layer, head)
    return np.asarray(head_.layout(layout)) if layout in head_.layouts() else None


def _transform(alignment: Alignment) -> Transform:
    return Transform(
        rotation=alignment.rotation.tolist(),
        scale=alignment.scale,
        shift=alignment.shift.tolist(),
        residual=alignment.residual,
    )


def _finite(value: float) -> float | None:
    return None if math.isnan(value) else float(value)
