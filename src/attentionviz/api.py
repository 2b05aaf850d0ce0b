"""The Python API: `build` a run, `open` one, and the public `Run`, which adds to the store's reader
what spans the layers above it (`embed` for more layouts).

    run = attentionviz.build("minilm", "corpus.txt", out="runs/minilm")
    run = attentionviz.open("runs/minilm").embed(layouts=("tsne.3d",))
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attentionviz.options import BuildOptions
from attentionviz.store import reader

if TYPE_CHECKING:
    import pandas as pd

    from attentionviz.analysis.compare import ComparisonReport
    from attentionviz.analysis.matching import MatchReport

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

    def analyse(
        self,
        *,
        importance: bool = False,
        model: Any = None,
        importance_tokens: int = 512,
        progress: bool = False,
        **settings: Any,
    ) -> Run:
        """Compute the head atlas: every head's probe scores, attention profile and q/k geometry
        (and value layouts, for a run built with values); with `importance`, each head's
        importance by mean ablation on `importance_tokens` corpus tokens, using `model` (default:
        the run's own; it needs its LM head). Returns the run, reopened. `settings` go to
        `attentionviz.analysis.pipeline.analyse_run` (workers, cluster, device, seed, overwrite).
        """
        from attentionviz.analysis.pipeline import analyse_run

        analyse_run(
            self.path,
            importance=importance,
            model=model,
            importance_tokens=importance_tokens,
            progress=progress,
            **settings,
        )
        return Run(self.path)

    @functools.cached_property
    def metrics(self) -> pd.DataFrame:
        """Every head's metrics, one row per head: the embed step's (entropy, distance, previous,
        next, self, first, sparsity, q/k norms), the probes' (induction, duplicate) and, when it
        was measured, importance. docs/guide.md gives every formula."""
        from attentionviz.analysis.table import metrics_table

        return metrics_table(self)

    @property
    def probes(self) -> reader.Run | None:
        """The run's probe sequences (`RUN/probes/`, a run of their own), or None without probes."""
        from attentionviz.analysis.pipeline import probes_of

        return probes_of(self)

    def head_map(
        self, other_runs: Sequence[str | Path | reader.Run] = (), *, method: str = "umap", seed: int = 0
    ) -> pd.DataFrame:
        """Every head of this run (and of `other_runs`) as a point of one 2D map, placed by its
        fingerprint (UMAP or PCA): a DataFrame of run, layer, head, x, y, the metrics and the
        fingerprint columns."""
        from attentionviz.analysis.headmap import head_map

        return head_map([self, *map(_opened, other_runs)], method=method, seed=seed)

    def related(
        self, layer: int, head: int, k: int = 5, *, other_runs: Sequence[str | Path | reader.Run] = ()
    ) -> pd.DataFrame:
        """The `k` heads nearest (layer, head) on the fingerprint, in this run and `other_runs`:
        a DataFrame of run, layer, head, distance, nearest first."""
        from attentionviz.analysis.headmap import related

        return related([self, *map(_opened, other_runs)], 0, layer=layer, head=head, k=k)

    def fingerprints(self) -> pd.DataFrame:
        """Every head's fingerprint (layer, head, then named columns), unstandardised."""
        from attentionviz.analysis.fingerprint import fingerprints

        return fingerprints(self)

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


def _with_bar(progress: bool, desc: str, func: Callable[..., Any], *args: Any) -> Any:
    """`func(*args, progress=...)` with a tqdm bar of tokens when `progress`."""
    report, close = _tqdm_progress(desc, "tok") if progress else (None, lambda: None)
    try:
        return func(*args, progress=report)
    finally:
        close()


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
    from attentionviz.capture.probes import capture_probes, probe_kinds
    from attentionviz.corpus import open_corpus
    from attentionviz.embed.plan import plan_layouts
    from attentionviz.errors import AttentionVizError

    options = (options or BuildOptions()).with_settings(**settings)
    options = dataclasses.replace(options, probes=probe_kinds(options.probes))
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
    if options.importance and not isinstance(model, str | Path):
        raise AttentionVizError(
            "--importance reloads the model with its LM head, so pass the model by name or folder "
            "(or call run.analyse(importance=True, model=lm) with a loaded *ForCausalLM / *ForMaskedLM)"
        )
    _with_bar(progress, "capture", capture, loaded, source, run_dir, options)
    if options.probes and loaded.tokenizer is not None:
        _with_bar(progress, "probes", capture_probes, loaded, run_dir, options)
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
    if not options.layouts and not options.importance:
        return run  # capture only (`--layouts none`): `embed` adds the layouts and the head atlas later
    return run.analyse(
        importance=options.importance,
        model=str(model) if options.importance else None,
        importance_tokens=options.importance_tokens,
        workers=options.workers,
        cluster=options.cluster,
        device=options.device,
        seed=options.seed,
        progress=progress,
    )


def embed(
    run: str | Path | Run,
    *,
    layouts: Sequence[str] | None = None,
    dims: Sequence[int] = (2, 3),
    layers: Sequence[int] | None = None,
    heads: Sequence[int] | None = None,
    normalisation: str | None = None,
    progress: bool = False,
    importance: bool = False,
    importance_tokens: int = 512,
    **settings: Any,
) -> Run:
    """Compute (more) layouts, metrics and fidelity for the heads of `layers` x `heads` (default:
    every head) of a run, then its head atlas (and, with `importance`, head importance by mean
    ablation); returns the run, reopened. What `attentionviz embed` runs.

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
    embedded = opened.embed(
        layouts=layouts,
        dims=dims,
        heads=chosen,
        normalisation=NORMALISATIONS[normalisation],
        progress=progress,
        **settings,
    )
    shared = {key: settings[key] for key in ("workers", "cluster", "device", "seed") if key in settings}
    return embedded.analyse(
        importance=importance, importance_tokens=importance_tokens, progress=progress, **shared
    )


def compare(
    run_a: str | Path | reader.Run,
    run_b: str | Path | reader.Run,
    *,
    layout: str | None = None,
    max_tokens: int | None = 5000,
    matches: int = 3,
    progress: bool = False,
) -> pd.DataFrame:
    """How every head changed from run A to run B, or which heads of B match A's.

    Runs of one architecture over one corpus (checkpoints, fine-tunes): one row per head with
    `layer`, `head`, `drift` and its parts `attention` (mean Jensen-Shannon divergence of each
    query's attention over the shared sequences), `fingerprint` (how far the head's fingerprint
    moved) and `layout` (Procrustes residual of B's layout aligned to A's); `drift` is 0 exactly
    for identical heads. `layout`: the layout compared (default: the first 2D layout both have);
    `max_tokens`: the attention is compared over a seeded sample of the shared sequences holding
    about that many tokens (None: all of them).

    Runs of different models or corpora: one row per head of A with its nearest head of B by
    fingerprint (`match_layer`, `match_head`, `distance`, `mutual`) and its `matches` nearest
    heads as (layer, head, distance). `table.attrs["kind"]` is "drift" or "match".
    """
    from attentionviz.analysis.compare import compare as compare_runs

    update, close = _tqdm_progress("compare", "head") if progress else (None, lambda: None)
    try:
        return compare_runs(
            _opened(run_a),
            _opened(run_b),
            layout=layout,
            max_tokens=max_tokens,
            matches=matches,
            progress=update,
        )
    finally:
        close()


def compare_report(
    run_a: str | Path, run_b: str | Path, *, top: int | None = 20, **settings: Any
) -> ComparisonReport | MatchReport:
    """`compare`, as the report `attentionviz compare` prints (the most changed, or best matched,
    heads first)."""
    from attentionviz.analysis.compare import report_of

    return report_of(compare(run_a, run_b, **settings), top)


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
