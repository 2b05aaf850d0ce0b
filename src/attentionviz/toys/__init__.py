"""Small trained models that need no download, whose behaviour is known (ground truth for tests)."""

from __future__ import annotations

from attentionviz.toys.induction import induction_model, repeated_segments_text, save, train, training_report

__all__ = ["induction_model", "repeated_segments_text", "save", "train", "training_report"]
