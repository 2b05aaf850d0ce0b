"""The Python entry point `build`: capture a corpus through a model, then embed every head."""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from attentionviz.options import BuildOptions
from attentionviz.store.reader import Run

log = logging.getLogger(__name__)


def _tqdm_progress(desc: str, unit: str) -> tuple[Callable[[int, int], None], Callable[[], None]]:
    from tqdm.auto import tqdm

    bar = tqdm(desc=desc, unit=unit, unit_scale=True, dynamic_ncols=True)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return update, bar.close


def build(
    model: str | Path | Any,
    corpus: str | Path | Sequence[str] | Any,
    *,
    out: str | Path,
    tokenizer: Any = None,
    processor: Any = None,
    options: BuildOptions | None = None,
    progress: bool = False,
    **settings: Any,
) -> Run:
    """Capture `corpus` through `model` into the run folder `out`, then compute its layouts.

    `model` is a hub id, a local folder, a .gguf file, an offline alias ("minilm", "smollm2") or an
    already loaded transformers model (then pass `tokenizer` or `processor`). `corpus` is a path,
    an alias ("wikipedia") or a list of strings. Keyword `settings` override fields of `BuildOptions`
    (`max_tokens=5000`, `layouts=("pca",)`, ...). An interrupted build resumes when called again.
    """
    from attentionviz.capture import loading
    from attentionviz.capture.pipeline import capture
    from attentionviz.corpus import open_corpus

    options = dataclasses.replace(options or BuildOptions(), **_normalise(settings))
    source = open_corpus(
        corpus, split=options.split, text_column=options.text_column, fmt=options.corpus_format
    )
    loaded = (
        loading.load(str(model), device=options.device, dtype=options.dtype)
        if isinstance(model, str | Path)
        else loading.in_memory(model, tokenizer=tokenizer, processor=processor)
    )
    run_dir = Path(out)
    report, close = _tqdm_progress("capture", "tok") if progress else (None, lambda: None)
    try:
        capture(loaded, source, run_dir, options, progress=report)
    finally:
        close()
    run = Run(run_dir)
    if options.layouts:
        run = run.embed(
            layouts=options.layouts,
            dims=options.dims,
            workers=options.workers,
            cluster=options.cluster,
            device=options.device,
            seed=options.seed,
            progress=progress,
        )
    return run


def _normalise(settings: dict[str, Any]) -> dict[str, Any]:
    """Accept lists where BuildOptions holds tuples, and reject unknown names with the valid ones."""
    from attentionviz.errors import AttentionVizError

    unknown = set(settings) - set(BuildOptions.field_names())
    if unknown:
        raise AttentionVizError(
            f"unknown build option(s) {', '.join(sorted(unknown))}; valid: {', '.join(BuildOptions.field_names())}"
        )
    return {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
