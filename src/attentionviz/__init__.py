"""attentionviz: a global view of transformer attention.

For every attention head of a model, queries and keys are embedded jointly in one 2D/3D space
over a whole corpus, so that a query lies near the keys it attends to (Yeh et al., VIS 2023).

    import attentionviz as av
    run = av.build("minilm", "corpus.txt", out="run", max_tokens=5000)
    run = av.open("run")
    run.head(2, 3).queries()
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

__all__ = [
    "AttentionVizCallback",
    "AttentionVizError",
    "Head",
    "Run",
    "RunInfo",
    "Widget",
    "__version__",
    "build",
    "build_step",
    "compare",
    "open",
]

if TYPE_CHECKING:
    from attentionviz.analysis.training import AttentionVizCallback
    from attentionviz.api import Run, build, build_step, compare, open
    from attentionviz.errors import AttentionVizError
    from attentionviz.hosts.widget import Widget
    from attentionviz.store.reader import Head, RunInfo

_LAZY = {
    "build": "attentionviz.api",
    "open": "attentionviz.api",
    "compare": "attentionviz.api",
    "build_step": "attentionviz.api",
    "AttentionVizCallback": "attentionviz.analysis.training",
    "Run": "attentionviz.api",
    "Head": "attentionviz.store.reader",
    "RunInfo": "attentionviz.store.reader",
    "AttentionVizError": "attentionviz.errors",
    "Widget": "attentionviz.hosts.widget",
}


def __getattr__(name: str) -> Any:
    """Import the public API lazily, so `import attentionviz` (and the CLI) stay fast."""
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'attentionviz' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
