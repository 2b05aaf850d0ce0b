"""The layout methods: every module of this package defines one reducer as `REDUCER`.

Every reducer takes the stacked, normalised [2N, D] matrix of one head, the head's shared kNN
graph (`embed/knn.py`) and a seed, and returns [2N, dim] float32 coordinates; the same seed gives
the same layout. Adding a method is adding one module here: the pipeline, the CLI's `--layouts`,
the server's routes, the static export and the frontend's projection menu (through the generated
`frontend/src/data/api.gen.ts`) all read this registry. Implementations were chosen by measurement
(`benchmarks/layouts.py`); each module says why.
"""

from __future__ import annotations

import importlib
import pkgutil

from attentionviz.embed.reducers.base import Reducer
from attentionviz.errors import AttentionVizError

__all__ = ["REDUCERS", "Reducer", "get_reducer", "register", "unregister"]


def _discover() -> dict[str, Reducer]:
    found: list[Reducer] = []
    for module in pkgutil.iter_modules(__path__):
        reducer = getattr(importlib.import_module(f"{__name__}.{module.name}"), "REDUCER", None)
        if reducer is not None:
            found.append(reducer)
    return {r.name: r for r in sorted(found, key=lambda r: (r.order, r.name))}


REDUCERS: dict[str, Reducer] = _discover()


def register(reducer: Reducer) -> None:
    """Add (or replace) a method at run time, e.g. from a notebook or a test."""
    REDUCERS[reducer.name] = reducer
    ordered = sorted(REDUCERS.values(), key=lambda r: (r.order, r.name))
    REDUCERS.clear()
    REDUCERS.update((r.name, r) for r in ordered)


def unregister(name: str) -> None:
    REDUCERS.pop(name, None)


def get_reducer(method: str) -> Reducer:
    try:
        return REDUCERS[method]
    except KeyError:
        raise AttentionVizError(f"unknown layout {method!r}; choose from {', '.join(REDUCERS)}") from None
