"""Vision models that work offline: a small ViT trained on scikit-learn's digits, and its images."""

from __future__ import annotations

from attentionviz.vision.digits import digits_images, digits_vit, training_report

__all__ = ["digits_images", "digits_vit", "training_report"]
