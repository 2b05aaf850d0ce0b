"""Which layouts to make: method names and keys to a plan, and what a run is big enough for.

plan_layouts(("umap", "tsne.3d"))         # (Layout("umap", 2), Layout("umap", 3), Layout("tsne", 3))
feasible(plan, n_tokens=1)                # the layouts one token allows, and a note per other one
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from attentionviz.errors import AttentionVizError
from attentionviz.layouts import DIMS, Layout, split_spec

__all__ = ["feasible", "plan_layouts"]


def plan_layouts(layouts: Iterable[str] | None = None, dims: Iterable[int] = DIMS) -> tuple[Layout, ...]:
    """The layouts to make, from method names and keys.

    A method name ("umap") means each of `dims`, except the dimensions that method makes only on
    request (3D t-SNE) while 2D is also wanted; a key ("tsne.3d") means exactly that layout. None
    or "all" means every registered method.
    """
    from attentionviz.embed.reducers import REDUCERS

    dims = tuple(dims)
    for dim in dims:
        if dim not in DIMS:
            raise AttentionVizError(f"layouts are 2D or 3D, not {dim}D; pass --dims 2,3")
    specs = list(REDUCERS) if layouts is None else [s for raw in layouts for s in _expand_all(raw)]
    plan: list[Layout] = []
    for raw in specs:
        method, explicit = split_spec(raw)
        if method not in REDUCERS:
            raise AttentionVizError(
                f"unknown layout {raw!r}; choose from {', '.join(REDUCERS)} (optionally as METHOD.2d / METHOD.3d)"
            )
        on_request = REDUCERS[method].on_request
        wanted = [explicit] if explicit else [d for d in dims if d not in on_request or 2 not in dims]
        plan.extend(Layout(method, d) for d in wanted if Layout(method, d) not in plan)
    return tuple(plan)


def feasible(plan: Sequence[Layout], n_tokens: int) -> tuple[tuple[Layout, ...], list[str]]:
    """The layouts of `plan` a run of `n_tokens` can have, and one note per layout it cannot."""
    from attentionviz.embed.reducers import get_reducer
    from attentionviz.embed.reducers.base import MIN_NEIGHBOURS

    kept: list[Layout] = []
    notes: list[str] = []
    for layout in plan:
        reducer = get_reducer(layout.method)
        if reducer.neighbours() and 2 * n_tokens < MIN_NEIGHBOURS + 1:
            notes.append(
                f"{layout.key} left out: {reducer.label} needs at least {MIN_NEIGHBOURS + 1} points per "
                f"head ({(MIN_NEIGHBOURS + 2) // 2} tokens), this run has {2 * n_tokens}; build it with more text"
            )
        else:
            kept.append(layout)
    return tuple(kept), notes


def _expand_all(spec: str) -> list[str]:
    from attentionviz.embed.reducers import REDUCERS

    return list(REDUCERS) if spec.strip().lower() == "all" else [spec]
