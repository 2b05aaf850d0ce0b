"""The one exception type users see: a message that says what went wrong and what to do."""

from __future__ import annotations


class AttentionVizError(Exception):
    """A problem with the user's input or environment, reported as one line without a traceback."""


class RunNotFound(AttentionVizError):
    """A run folder, head, sequence or layout that does not exist."""


class CorpusError(AttentionVizError):
    """A corpus that cannot be read or holds nothing to capture."""


class ModelError(AttentionVizError):
    """A model that cannot be loaded or whose attention cannot be captured faithfully."""


class OlderRun(AttentionVizError):
    """A run folder written in an older schema: `attentionviz upgrade RUN` converts it."""
