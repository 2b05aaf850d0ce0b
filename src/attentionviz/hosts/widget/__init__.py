"""The notebook widget (`attentionviz.Widget`); needs the `notebook` extra (anywidget)."""

from __future__ import annotations

try:
    import anywidget  # noqa: F401
except ImportError as exc:  # pragma: no cover - depends on the install
    from attentionviz.errors import AttentionVizError

    raise AttentionVizError(
        "the notebook widget needs anywidget; install it with: pip install 'attentionviz[notebook]'"
    ) from exc

from attentionviz.hosts.widget.widget import Widget

__all__ = ["Widget"]
