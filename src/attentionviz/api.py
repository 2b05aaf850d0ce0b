"""The Python API: `build` a run, `open` one, and the public `Run`, which adds to the store's reader
what spans the layers above it (`embed` for more layouts).

    run = attentionviz.build("minilm", "corpus.txt", out="runs/minilm")
    run = attentionviz.open("runs/minilm").embed(layouts=("tsne.3d",))
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attentionviz.options import BuildOptions
from attentionviz.store import reader

if TYPE_CHECKING:
    import pandas as pd

    from attentionviz.analysis.compare import ComparisonReport

log = logging.getLogger(__name__)


class Run(reader.Run):
    """A finished run folder (`attentionviz.open(path)`): cheap to open, every array loaded on demand."""

    def embed(
        self,
        *,
        layouts: Sequence[str] | None = None,
        dims: Sequence[int] = (2, 3),
        progress: bool = False,
        **settings: Any,
    ) -> Run:
        """Compute (more) layouts, metrics and fidelity for every head; returns the run, reopened.

        `layouts`: methods ("umap") or keys ("tsne.3d"), None for every method. `settings` go to
        `attentionviz.embed.pipeline.embed_run` (heads, workers, cluster, device, seed, overwrite,
        normalisation, metric).
        """
        from attentionviz.embed.pipeline import embed_run

        embed_run(
            self.path,
            layouts=None if layouts is None else tuple(layouts),
            dims=tuple(dims),
            progress=progress,
            **settings,
        )
        return Run(self.path)

    def __str__(self) -> str:
        """The run's summary: model, corpus, sizes, layouts computed and their fidelity."""
        from attentionviz.info import describe

        return describe(self)


def open(path: str | Path) -> Run:
    """Open a finished run folder."""
    return Run(path)


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
    from attentionviz.embed.plan import plan_layouts

    options = (options or BuildOptions()).with_settings(**settings)
    if options.layouts:  # a typo in a layout name should not cost a whole capture first
        plan_layouts(options.layouts, options.dims)
    placement = loading.Placement(
        options.device, options.device_map, options.max_memory, options.offload_folder
    )
    source = open_corpus(
        corpus, split=options.split, text_column=options.text_column, fmt=options.corpus_format
    )
    loaded = (
        loading.load(str(model), dtype=options.dtype, placement=placement)
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


def embed(
    run: str | Path | Run,
    *,
    layouts: Sequence[str] | None = None,
    dims: Sequence[int] = (2, 3),
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    normalisation: str | None = None,
    progress: bool = False,
    **settings: Any,
) -> Run:
    """Compute (more) layouts, metrics and fidelity for the heads of `layers` x `heads` (default:
    every head) of a run; returns the run, reopened. What `attentionviz embed` runs.

    `normalisation`: "auto" (None), "translated", "raw" or "translated+scaled". `settings` go to
    `attentionviz.embed.pipeline.embed_run` (workers, cluster, device, seed, overwrite, metric).
    """
    from attentionviz.embed.joint import NORMALISATIONS
    from attentionviz.errors import AttentionVizError

    opened = run if isinstance(run, Run) else Run(run)
    info = opened.info
    chosen = [
        (layer, head)
        for layer in (range(info.layers) if layers is None else layers)
        for head in (range(info.heads) if heads is None else heads)
    ]
    if normalisation not in NORMALISATIONS:
        raise AttentionVizError(
            f"unknown normalisation {normalisation!r}; choose from {', '.join(map(str, NORMALISATIONS))}"
        )
    return opened.embed(
        layouts=layouts,
        dims=dims,
        heads=chosen,
        normalisation=NORMALISATIONS[normalisation],
        progress=progress,
        **settings,
    )


def compare(
    run_a: str | Path | reader.Run,
    run_b: str | Path | reader.Run,
    *,
    layout: str | None = None,
    max_tokens: int | None = 5000,
    progress: bool = False,
) -> pd.DataFrame:
    """How every head changed from run A to run B (one architecture, one corpus): one row per head
    with `layer`, `head`, `drift` and its parts `attention` (mean Jensen-Shannon divergence of each
    query's attention over the shared sequences) and `layout` (Procrustes residual of B's layout
    aligned to A's). `drift` is 0 exactly for identical heads. `layout`: the layout compared
    (default: the first 2D layout both have); `max_tokens`: the attention is compared over a seeded
    sample of the shared sequences holding about that many tokens (None: all of them).
    """
    from attentionviz.analysis.compare import compare as compare_runs

    update, close = _tqdm_progress("compare", "head") if progress else (None, lambda: None)
    try:
        return compare_runs(
            _opened(run_a), _opened(run_b), layout=layout, max_tokens=max_tokens, progress=update
        )
    finally:
        close()


def compare_report(
    run_a: str | Path, run_b: str | Path, *, top: int | None = 20, **settings: Any
) -> ComparisonReport:
    """`compare`, as the report `attentionviz compare` prints (the most changed heads first)."""
    from attentionviz.analysis.compare import ComparisonReport

    return ComparisonReport(compare(run_a, run_b, **settings), top)


def build_step(
    model: Any,
    corpus: str | Path | Sequence[str] | Any,
    *,
    out: str | Path,
    step: int,
    tokenizer: Any = None,
    processor: Any = None,
    overwrite: bool = False,
    **settings: Any,
) -> Run:
    """In a training loop: capture `corpus` through `model` as it is now into the series folder
    `out`, as the run `out/step-NNNNNNNN` (small by default: 1,000 tokens, PCA layouts; `settings`
    override any build option). The model keeps its mode and weights. `attentionviz serve out`
    scrubs through the series; `AttentionVizCallback` does this from a transformers `Trainer`.
    """
    from attentionviz.analysis.series import build_step as build

    return Run(
        build(
            model,
            corpus,
            out=out,
            step=step,
            tokenizer=tokenizer,
            processor=processor,
            overwrite=overwrite,
            **settings,
        )
    )


def _opened(run: str | Path | reader.Run) -> reader.Run:
    return run if isinstance(run, reader.Run) else Run(run)
