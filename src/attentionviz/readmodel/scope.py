"""What a host shows: the runs of a registry, all of them (the server, the widget) or a selection
of one run's heads and layouts (a static export). Every route's payload is built against a scope,
so the server and the export answer with the same code and differ only in what they include.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from attentionviz.layouts import Layout
from attentionviz.readmodel.registry import RunRegistry
from attentionviz.store.reader import Head, Run


@dataclass(frozen=True)
class Scope:
    registry: RunRegistry
    #: the heads shown of a run, as (layer, head) pairs; None: every head
    selected: Callable[[Run], frozenset[tuple[int, int]]] | None = None
    #: the layouts shown; the others are left out of records and files
    keeps: Callable[[Layout], bool] = field(default=lambda layout: True)
    #: list layouts an `embed` is still computing (no head has them yet), so a viewer polls for them
    pending: bool = True

    def run(self, run_id: str) -> Run:
        return self.registry.get(run_id)

    def run_ids(self) -> list[str]:
        return self.registry.refresh()

    def head(self, run_id: str, layer: int, head: int) -> Head:
        return self.run(run_id).head(layer, head)

    def shows(self, run: Run, layer: int, head: int) -> bool:
        return self.selected is None or (layer, head) in self.selected(run)

    def heads(self, run: Run) -> list[tuple[int, int]]:
        """The (layer, head) pairs shown, layer by layer."""
        info = run.info
        return [
            (layer, head)
            for layer in range(info.layers)
            for head in range(info.heads)
            if self.shows(run, layer, head)
        ]
