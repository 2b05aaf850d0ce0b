"""Runs of a model while it trains: a small run on one fixed corpus every N steps, into a series folder.

    for step in range(steps):                                   # a custom training loop
        ...
        if step % 100 == 0:
            build_step(model, corpus, out="runs/series", step=step, tokenizer=tokenizer)

`SERIES/step-00000100/` is a run like any other; its manifest's `settings["training"]` says
`{"series": "series", "step": 100}`. The corpus is sampled the same way at every step (same seed
and budget), so consecutive steps share every sequence and `compare` sees how each head changed;
`attentionviz serve SERIES` shows the whole series and the app scrubs through it. A transformers
`Trainer` does the same with `training.AttentionVizCallback`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from attentionviz.errors import AttentionVizError
from attentionviz.options import BuildOptions
from attentionviz.store.manifest import load_manifest, save_manifest
from attentionviz.store.reader import Run

log = logging.getLogger(__name__)

#: what a step's run holds unless told otherwise: small, PCA only, embedded in this process
STEP_DEFAULTS: dict[str, Any] = {"max_tokens": 1000, "layouts": ("pca",), "workers": 1}


def step_folder(series: str | Path, step: int) -> Path:
    """`SERIES/step-00000100`: zero-padded, so a listing of the series is in step order."""
    if step < 0:
        raise AttentionVizError(f"a training step is a whole number of at least 0, not {step}")
    return Path(series) / f"step-{step:08d}"


def step_options(**settings: Any) -> BuildOptions:
    """`BuildOptions` for a step's run: STEP_DEFAULTS, overridden by `settings`."""
    return BuildOptions().with_settings(**{**STEP_DEFAULTS, **settings})


def build_step(
    model: Any,
    corpus: Any,
    *,
    out: str | Path,
    step: int,
    tokenizer: Any = None,
    processor: Any = None,
    overwrite: bool = False,
    **settings: Any,
) -> Path:
    """Capture `corpus` (and the probe sequences) through the model as it is now into
    `out/step-NNNNNNNN`, then embed it and compute its head atlas (what `compare` fingerprints).

    `model` is the model being trained (a task model such as `...ForCausalLM` is captured through
    its base model); it is left in the mode (train / eval) it was in, its weights untouched.
    `settings` override `STEP_DEFAULTS` (any `BuildOptions` field: `max_tokens`, `layouts`, ...).
    A step folder that holds another capture (a new training run into the same series) is an
    error unless `overwrite`. Returns the step's run folder.
    """
    from attentionviz.analysis.pipeline import analyse_run
    from attentionviz.capture import loading
    from attentionviz.capture.pipeline import capture
    from attentionviz.capture.probes import capture_probes, probe_kinds
    from attentionviz.corpus import open_corpus
    from attentionviz.embed.pipeline import embed_run
    from attentionviz.embed.plan import plan_layouts

    options = step_options(**settings)
    if options.layouts:
        plan_layouts(options.layouts, options.dims)
    run_dir = step_folder(out, step)
    if overwrite and run_dir.exists():
        shutil.rmtree(run_dir)
    source = open_corpus(
        corpus, split=options.split, text_column=options.text_column, fmt=options.corpus_format
    )
    base = getattr(model, "base_model", model)  # the captured model must return hidden states
    was_training = bool(getattr(model, "training", False))
    name = str(getattr(getattr(model, "config", None), "_name_or_path", "") or type(model).__name__)
    with _threads_kept():  # the capture and the embedding set this process's thread pools
        try:
            loaded = loading.in_memory(base, tokenizer=tokenizer, processor=processor, name=name)
            capture(loaded, source, run_dir, options)
            probes = dataclasses.replace(options, probes=probe_kinds(options.probes))
            capture_probes(loaded, run_dir, probes)
        finally:
            model.train(was_training)
        mark_step(run_dir, series=Path(out).resolve().name, step=step)
        if options.layouts:
            embed_run(
                run_dir,
                layouts=options.layouts,
                dims=options.dims,
                workers=options.workers,
                seed=options.seed,
            )
            analyse_run(run_dir, workers=options.workers, seed=options.seed)  # the head atlas
    log.info("built training step %d into %s", step, run_dir)
    return run_dir


@contextlib.contextmanager
def _threads_kept() -> Iterator[None]:
    """Give the training process back its torch, BLAS and OpenMP thread counts afterwards."""
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    threads = torch.get_num_threads()
    pools = {pool["prefix"]: pool["num_threads"] for pool in threadpool_info()}
    try:
        yield
    finally:
        threadpool_limits(limits=pools)
        torch.set_num_threads(threads)


def mark_step(run_dir: Path, *, series: str, step: int) -> None:
    """Record in the run's manifest which series and step it belongs to."""
    manifest = load_manifest(run_dir)
    training = {"series": series, "step": int(step)}
    if manifest.settings.get("training") != training:
        save_manifest(
            run_dir, dataclasses.replace(manifest, settings={**manifest.settings, "training": training})
        )


def training_step(run: Run) -> tuple[str, int] | None:
    """(series, step) of a run built by `build_step`, or None for any other run."""
    training = run.manifest.settings.get("training")
    if not isinstance(training, dict):
        return None
    return str(training.get("series", "")), int(training.get("step", 0))
