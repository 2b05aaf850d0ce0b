"""`attentionviz demo`: a run of a bundled model on the bundled corpus, built once and cached."""

from __future__ import annotations

from pathlib import Path

from attentionviz.capture.loading import cache_root

DEMO_TOKENS = 2500  # as in the original's hosted demo (~2.5k tokens, ~85 sentences)
DEMO_MODELS = ("minilm", "smollm2")


def demo_run_dir(model: str) -> Path:
    return cache_root() / "runs" / f"demo-{model}-wikipedia-{DEMO_TOKENS}"


def build_demo(model: str = "minilm", *, progress: bool = True) -> Path:
    """Build (or reuse) the demo run for `model` on the bundled Wikipedia summaries."""
    from attentionviz.api import build
    from attentionviz.errors import AttentionVizError

    if model not in DEMO_MODELS:
        raise AttentionVizError(
            f"the demo runs {' or '.join(DEMO_MODELS)}, not {model!r}; use `attentionviz build` for others"
        )
    out = demo_run_dir(model)
    build(model, "wikipedia", out=out, max_tokens=DEMO_TOKENS, seed=0, progress=progress)
    return out
