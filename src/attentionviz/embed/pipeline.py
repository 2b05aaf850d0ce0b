"""Embed every head of a finished run: layouts, their quality, fidelity and head metrics.

    embed_run(run_dir)                                   # t-SNE 2D, UMAP 2D+3D, PCA 2D+3D, every head
    embed_run(run_dir, layouts=("tsne.3d",), heads=[(2, 3)])

Three stages, so a viewer has something to draw early and an interrupted embed resumes:

1. The layouts that need no neighbour graph (PCA, 2D/3D) of every selected head, in this process
   (milliseconds per head).
2. Coarse layouts (`embed/coarse.py`): the 2D t-SNE / UMAP of every head on its level-of-detail
   sample, stored as the head's layout, so the whole Matrix View is complete early. Heads of fewer
   than 2 * COARSE_ROWS rows skip this: their full layouts cost about as much.
3. One job per head, on local processes or a Dask cluster (`attentionviz.jobs`): normalise, one
   kNN graph shared by every method, the missing t-SNE / UMAP layouts (each stored as soon as
   it is done; a coarse one is refined, not redone), each layout's quality (kNN preservation,
   trustworthiness, fidelity rho), the original-space fidelity of raw / translated /
   translated+scaled vectors, and the head metrics.

Stages 2 and 3 run the heads in the order a viewer asks for them (`store.head_outputs.focus`):
the heads most recently opened first, then the rest in order. A head whose layouts (none of them
coarse), metrics.json and fidelity.json all exist is skipped unless `overwrite`. A layout or a
quality measure a run is too small for is left out, with a note.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from attentionviz.embed import coarse, joint, quality
from attentionviz.embed.joint import Normalisation
from attentionviz.embed.plan import feasible, plan_layouts
from attentionviz.errors import AttentionVizError
from attentionviz.layouts import DIMS, Layout
from attentionviz.store import head_outputs
from attentionviz.store.reader import Run

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class EmbedSettings:
    """How every head is embedded (recorded in each layout's metadata)."""

    normalisation: Normalisation | None = None  # None: chosen per head (joint.choose)
    metric: str = "cosine"
    seed: int = 0
    device: str = "cpu"
    overwrite: bool = False


@dataclass(frozen=True)
class HeadJob:
    run_dir: str
    layer: int
    head: int
    plan: tuple[Layout, ...]  # the layouts to compute in this job
    settings: EmbedSettings = field(default_factory=EmbedSettings)

    def __str__(self) -> str:
        return f"layer {self.layer} head {self.head}"


@dataclass(frozen=True)
class HeadResult:
    layer: int
    head: int
    seconds: dict[str, float]  # "knn", "tsne.2d", ...
    rho: dict[str, float]  # layout name -> fidelity rho


def embed_run(
    run_dir: str | Path,
    *,
    layouts: Sequence[str] | None = None,
    dims: Sequence[int] = DIMS,
    heads: Iterable[tuple[int, int]] | None = None,
    workers: int | None = None,
    cluster: str | None = None,
    device: str = "cpu",
    seed: int = 0,
    progress: bool | Progress | None = None,
    overwrite: bool = False,
    normalisation: Normalisation | None = None,
    metric: str = "cosine",
    refine: bool = True,
) -> None:
    """Compute the requested layouts (None: every method), their quality, fidelity and metrics for the selected heads.

    `refine=False` stops after the coarse layouts (a later `embed_run` refines them).
    """
    from attentionviz.embed.threads import set_threads
    from attentionviz.jobs.runner import run_jobs

    run = Run(Path(run_dir).resolve())  # jobs may run in another directory (Dask workers)
    plan, notes = feasible(plan_layouts(layouts, dims), run.info.n_tokens)
    for note in [*notes, *quality.left_out(2 * run.info.n_tokens).values()]:
        log.warning("%s", note)
    selected = select_heads(run, heads)
    settings = EmbedSettings(
        normalisation=normalisation,
        metric=metric,
        seed=seed,
        device=_embedding_device(device),
        overwrite=overwrite,
    )
    quick = [layout for layout in plan if _needs_no_graph(layout)]
    if quick:
        _stage_quick(run, selected, quick, settings, progress)
    jobs = [
        HeadJob(
            str(run.path), layer, head, _missing(run, layer, head, plan, settings.overwrite, quick), settings
        )
        for layer, head in selected
        if settings.overwrite or not head_complete(run, layer, head, plan)
    ]
    if not jobs:
        log.info("every selected head of %s is embedded already (pass overwrite=True to redo)", run.path)
        head_outputs.clear_pending(run.path)
        return
    rough = _coarse_jobs(run, jobs)
    head_outputs.write_pending(run.path, list(plan))
    try:
        stages = [("coarse layouts", embed_coarse, rough), ("embed", embed_head, jobs if refine else [])]
        for stage, func, todo in stages:
            report, close = _progress(progress, stage, len(todo))
            try:
                for done, (_, result) in enumerate(
                    run_jobs(
                        func,
                        todo,
                        workers=workers,
                        cluster=cluster,
                        initializer=set_threads,
                        pick=_focus_first(run.path),
                    ),
                    start=1,
                ):
                    log.debug("%s: layer %d head %d: %s", stage, result.layer, result.head, result.seconds)
                    report(done, len(todo))
            finally:
                close()
    finally:
        head_outputs.clear_pending(run.path)


def _coarse_jobs(run: Run, jobs: Sequence[HeadJob]) -> list[HeadJob]:
    """The coarse layouts to make first, one job per head and layout, layout by layout (every
    head's t-SNE before any UMAP): 2D layouts of methods that can refine, missing entirely."""
    if coarse.coarse_sample(run.info.n_tokens) is None:
        return []
    from attentionviz.embed.reducers import get_reducer
    from attentionviz.embed.reducers.base import Refiner

    have = {
        (job.layer, job.head): set(head_outputs.available_layouts(run.path, job.layer, job.head))
        for job in jobs
    }
    layouts = dict.fromkeys(layout for job in jobs for layout in job.plan)
    return [
        dataclasses.replace(job, plan=(layout,))
        for layout in layouts
        if layout.dim == 2 and isinstance(get_reducer(layout.method), Refiner)
        for job in jobs
        if layout in job.plan and (job.settings.overwrite or layout not in have[job.layer, job.head])
    ]


def _focus_first(run_dir: Path) -> Callable[[Sequence[HeadJob]], int]:
    """Pick the waiting job of the head a viewer opened most recently, else the first."""

    def pick(waiting: Sequence[HeadJob]) -> int:
        for layer, head in head_outputs.focus(run_dir):
            for index, job in enumerate(waiting):
                if (job.layer, job.head) == (layer, head):
                    return index
        return 0

    return pick


def _needs_no_graph(layout: Layout) -> bool:
    """Layouts made from the vectors alone (PCA): milliseconds each, made first in this process."""
    from attentionviz.embed.reducers import get_reducer

    return get_reducer(layout.method).neighbours() == 0


def embed_quick(
    run_dir: str | Path,
    *,
    dims: Sequence[int] = DIMS,
    heads: Iterable[tuple[int, int]] | None = None,
    device: str = "cpu",
    seed: int = 0,
    progress: bool | None = None,
    normalisation: Normalisation | None = None,
) -> None:
    """Only the first stage of `embed_run`: the layouts that need no neighbour graph (PCA) of the
    selected heads (about a second for 72 heads of 5k points), without their quality, fidelity or
    metrics. A later `embed_run` adds those and keeps the layouts, which are the same as it would
    have made itself."""
    run = Run(run_dir)
    settings = EmbedSettings(normalisation=normalisation, seed=seed, device=_embedding_device(device))
    quick = [layout for layout in plan_layouts(None, dims) if _needs_no_graph(layout)]
    _stage_quick(run, select_heads(run, heads), quick, settings, progress)


def _embedding_device(device: str) -> str:
    """The device for embedding: cuda (kNN, PCA, 2D t-SNE) or cpu; "auto" picks the GPU if there is one."""
    if device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    return device if device.startswith("cuda") else "cpu"


def select_heads(run: Run, heads: Iterable[tuple[int, int]] | None) -> list[tuple[int, int]]:
    info = run.info
    if heads is None:
        return [(layer, head) for layer in range(info.layers) for head in range(info.heads)]
    selected = []
    for layer, head in heads:
        run.head(layer, head)  # raises a one-line error when out of range
        selected.append((int(layer), int(head)))
    return selected


def head_complete(run: Run, layer: int, head: int, plan: Sequence[Layout]) -> bool:
    """True when every planned layout (full, not coarse, with its quality), metrics.json and
    fidelity.json exist."""
    fid = head_outputs.load_head_json(run.path, layer, head, "fidelity")
    if fid is None or head_outputs.load_head_json(run.path, layer, head, "metrics") is None:
        return False
    have = set(head_outputs.available_layouts(run.path, layer, head, coarse=False))
    return all(layout in have and layout.key in fid.get("layouts", {}) for layout in plan)


def _missing(
    run: Run,
    layer: int,
    head: int,
    plan: Sequence[Layout],
    overwrite: bool,
    done_here: Sequence[Layout],
) -> tuple[Layout, ...]:
    have = set(head_outputs.available_layouts(run.path, layer, head, coarse=False))
    return tuple(p for p in plan if p not in done_here and (overwrite or p not in have))


def _stage_quick(
    run: Run,
    selected: Sequence[tuple[int, int]],
    quick: Sequence[Layout],
    settings: EmbedSettings,
    progress: bool | Progress | None,
) -> None:
    from threadpoolctl import threadpool_limits

    from attentionviz.embed.reducers import get_reducer

    todo = [
        (layer, head)
        for layer, head in selected
        if settings.overwrite or not set(quick) <= set(head_outputs.available_layouts(run.path, layer, head))
    ]
    report, close = _progress(progress if progress is True else None, "quick layouts", len(todo))
    # Every matrix here is small (D x D covariances, one sequence's pairs): a BLAS thread pool costs
    # ~25 ms per eigh on two busy cores, one thread 0.1 ms.
    with threadpool_limits(1):
        try:
            for done, (layer, head) in enumerate(todo, start=1):
                vectors = _normalised(run, layer, head, settings)
                have = set(head_outputs.available_layouts(run.path, layer, head))
                for layout in quick:
                    if settings.overwrite or layout not in have:
                        reducer = get_reducer(layout.method)
                        start = time.perf_counter()
                        coords = reducer.embed(
                            vectors.stacked(),
                            dim=layout.dim,
                            knn=None,
                            seed=settings.seed,
                            device=settings.device,
                        )
                        meta = _layout_meta(
                            layout, vectors, reducer.params(layout.dim), settings, time.perf_counter() - start
                        )
                        head_outputs.save_layout(run.path, layer, head, layout, coords, meta)
                report(done, len(todo))
        finally:
            close()


def embed_coarse(job: HeadJob) -> HeadResult:
    """One head's coarse layouts (`embed/coarse.py`): each of `job.plan` on the head's LOD sample,
    stored as the head's layout (every other row beside its nearest sampled row) and marked coarse."""
    from attentionviz.embed.knn import knn_graph
    from attentionviz.embed.reducers import get_reducer

    run = Run(job.run_dir)
    settings = job.settings
    head = run.head(job.layer, job.head)
    q = np.asarray(head.queries(), dtype=np.float32)
    k = np.asarray(head.keys(), dtype=np.float32)
    sample = coarse.coarse_sample(len(q))
    if sample is None:
        raise ValueError(f"{job} is too small for a coarse layout")
    # the normalisation is chosen on a sample of sequences: all of them take longer than the layouts
    pairs = _pairs(run, job.layer, q, k, tokens=len(sample) // 2)
    vectors = _normalised(run, job.layer, job.head, settings, q=q, k=k, pairs=pairs)
    x = vectors.stacked()
    seconds: dict[str, float] = {}
    needed = max(get_reducer(layout.method).neighbours() for layout in job.plan)
    start = time.perf_counter()
    graph = knn_graph(x[sample], min(needed, len(sample) - 1), metric=settings.metric, device=settings.device)
    seconds["knn"] = time.perf_counter() - start
    for layout in job.plan:
        reducer = get_reducer(layout.method)
        start = time.perf_counter()
        placed = coarse.spread_evenly(
            reducer.embed(x[sample], dim=layout.dim, knn=graph, seed=settings.seed, device=settings.device)
        )
        coords = coarse.extend(x, sample, placed, metric=settings.metric, seed=settings.seed)
        seconds[layout.key] = time.perf_counter() - start
        meta = _layout_meta(layout, vectors, reducer.params(layout.dim), settings, seconds[layout.key])
        meta["coarse"] = {"rows": len(sample), "of": len(x)}
        _check_finite(coords, layout, job)
        head_outputs.save_layout(run.path, job.layer, job.head, layout, coords, meta, coarse=True)
    return HeadResult(job.layer, job.head, seconds, {})


def embed_head(job: HeadJob) -> HeadResult:
    """One head, start to finish: the job a worker runs. Every output is stored as soon as it exists."""
    from attentionviz.embed.knn import knn_graph
    from attentionviz.embed.reducers import get_reducer
    from attentionviz.embed.reducers.base import Refiner

    run = Run(job.run_dir)
    settings = job.settings
    layer, head_index = job.layer, job.head
    head = run.head(layer, head_index)
    q = np.asarray(head.queries(), dtype=np.float32)
    k = np.asarray(head.keys(), dtype=np.float32)
    pairs = _pairs(run, layer, q, k)
    vectors = _normalised(run, layer, head_index, settings, q=q, k=k, pairs=pairs)
    x = vectors.stacked()
    n = len(q)
    seconds: dict[str, float] = {}

    needed = max([quality.QUALITY_K] + [get_reducer(layout.method).neighbours() for layout in job.plan])
    start = time.perf_counter()
    graph = knn_graph(x, min(needed, len(x) - 1), metric=settings.metric, device=settings.device)
    seconds["knn"] = time.perf_counter() - start

    layer_info = run.manifest.layers[layer]
    left_out = quality.left_out(len(x))

    def measure(coords: np.ndarray) -> dict[str, float]:
        scores = {"rho": pairs.rho(coords[:n], coords[n:])}
        if "knn_preservation" not in left_out:
            scores["knn_preservation"] = quality.knn_preservation(graph, coords)
        if "trustworthiness" not in left_out:
            scores["trustworthiness"] = quality.trustworthiness(
                x, coords, metric=settings.metric, seed=settings.seed
            )
        return scores

    rough = set(head_outputs.coarse_layouts(run.path, layer, head_index))
    for layout in job.plan:
        reducer = get_reducer(layout.method)
        sample = coarse.coarse_sample(n)
        refine = layout in rough and sample is not None and isinstance(reducer, Refiner)
        start = time.perf_counter()
        if refine:
            assert isinstance(reducer, Refiner) and sample is not None
            begin = np.asarray(head_outputs.load_layout(run.path, layer, head_index, layout))
            coords = reducer.refine(x, begin, knn=graph, seed=settings.seed, device=settings.device)
            coords = coarse.align(coords, sample, begin[sample])
            params = reducer.refine_params(layout.dim)
        else:
            coords = reducer.embed(x, dim=layout.dim, knn=graph, seed=settings.seed, device=settings.device)
            params = reducer.params(layout.dim)
        elapsed = time.perf_counter() - start
        seconds[layout.key] = elapsed
        _check_finite(coords, layout, job)
        meta = _layout_meta(layout, vectors, params, settings, elapsed)
        if refine and sample is not None:
            meta["refined_from"] = f"a coarse layout of {len(sample)} level-of-detail rows"
        meta["quality"] = _finite(measure(coords))
        head_outputs.save_layout(run.path, layer, head_index, layout, coords, meta)

    scores: dict[str, dict[str, float]] = {}
    for layout in head_outputs.available_layouts(run.path, layer, head_index, coarse=False):
        meta = head_outputs.load_layout_meta(run.path, layer, head_index, layout)
        if "quality" not in meta:  # made in the PCA stage, or by an older run of embed
            coords = np.asarray(head_outputs.load_layout(run.path, layer, head_index, layout))
            meta["quality"] = _finite(measure(coords))
            head_outputs.save_layout(run.path, layer, head_index, layout, coords, meta)
        scores[layout.key] = meta["quality"]

    record = {
        "pairs": "causal" if layer_info.causal else "all",
        "sequences": pairs.n_sequences,
        "normalisation": vectors.record(),
        "space": _space_fidelity(pairs, q, k, layer_info.softcap is not None),
        "layouts": {name: s["rho"] for name, s in scores.items()},
        "quality": {
            name: {key: s[key] for key in ("knn_preservation", "trustworthiness") if key in s}
            for name, s in scores.items()
        },
    }
    if left_out:
        record["notes"] = list(left_out.values())
    head_outputs.save_head_json(run.path, layer, head_index, "fidelity", _finite(record))
    head_outputs.save_head_json(
        run.path, layer, head_index, "metrics", _finite(_metrics(run, layer, head_index, q, k))
    )
    return HeadResult(layer, head_index, seconds, {name: s["rho"] for name, s in scores.items()})


def _check_finite(coords: np.ndarray, layout: Layout, job: HeadJob) -> None:
    if not np.isfinite(coords).all():
        raise AttentionVizError(f"{layout.key} of {job} produced NaN; rerun with another --seed")


def _space_fidelity(pairs: Any, q: np.ndarray, k: np.ndarray, softcap: bool) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for how in (joint.RAW, joint.TRANSLATED, joint.TRANSLATED_SCALED):
        if softcap and how.translate:
            continue
        vectors = joint.normalise(q, k, how)
        out[how.describe()] = {m: pairs.rho(vectors.q, vectors.k, metric=m) for m in ("cosine", "euclidean")}
    return out


def _normalised(
    run: Run,
    layer: int,
    head: int,
    settings: EmbedSettings,
    *,
    q: np.ndarray | None = None,
    k: np.ndarray | None = None,
    pairs: Any = None,
) -> joint.Joint:
    """The head's queries and keys as they are embedded: the chosen (or the requested) normalisation."""
    the_head = run.head(layer, head)
    q = np.asarray(the_head.queries() if q is None else q, dtype=np.float32)
    k = np.asarray(the_head.keys() if k is None else k, dtype=np.float32)
    softcap = run.manifest.layers[layer].softcap is not None
    how = settings.normalisation
    reasons: dict[str, Any] = {}
    if how is None and softcap:
        how = joint.RAW
    elif how is None:
        pairs = pairs if pairs is not None else _pairs(run, layer, q, k)
        how, reasons = joint.choose(q, k, lambda q_at, k_at: float(pairs.rho(q_at, k_at, metric="cosine")))
    if how.translate and softcap:
        log.warning(
            "layer %d soft-caps its logits, so translating keys would change attention; not translating",
            layer,
        )
        how = Normalisation(translate=False, scale=how.scale)
    return dataclasses.replace(joint.normalise(q, k, how), reasons=reasons)


def _pairs(run: Run, layer: int, q: np.ndarray, k: np.ndarray, *, tokens: int | None = None) -> Any:
    """The head's same-sequence query-key pairs: of every sequence, or of a seeded sample of
    sequences holding at least `tokens` tokens."""
    from attentionviz.embed.fidelity import Pairs

    starts, lengths = _sequence_bounds(str(run.path))
    if tokens is not None:
        order = np.random.default_rng(0).permutation(len(lengths))
        enough = int(np.searchsorted(np.cumsum(lengths[order]), tokens)) + 1
        chosen = np.sort(order[:enough])
        starts, lengths = starts[chosen], lengths[chosen]
    layer_info = run.manifest.layers[layer]
    return Pairs(q, k, starts, lengths, causal=layer_info.causal, window=layer_info.sliding_window)


def _layout_meta(
    layout: Layout,
    vectors: joint.Joint,
    params: dict[str, Any],
    settings: EmbedSettings,
    seconds: float,
) -> dict[str, Any]:
    return {
        "method": layout.method,
        "dim": layout.dim,
        "points": 2 * len(vectors.q),
        "rows": "0..N-1 queries, N..2N-1 keys, token order",
        "normalisation": _finite(vectors.record()),
        "metric": "euclidean" if _needs_no_graph(layout) else settings.metric,
        "seed": settings.seed,
        "params": params,
        "seconds": round(seconds, 4),
    }


@functools.lru_cache(maxsize=8)
def _sequence_bounds(run_dir: str) -> tuple[np.ndarray, np.ndarray]:
    sequences = Run(run_dir).sequences
    return (
        sequences["token_start"].to_numpy(dtype=np.int64),
        sequences["n_tokens"].to_numpy(dtype=np.int64),
    )


def _metrics(run: Run, layer: int, head: int, q: np.ndarray, k: np.ndarray) -> dict[str, Any]:
    from attentionviz.embed.metrics import head_metrics

    starts, lengths = _sequence_bounds(str(run.path))
    return head_metrics(q, k, starts, lengths, run.manifest.layers[layer])


def _finite(data: Any) -> Any:
    """JSON-safe: NaN and infinities become null (a head too small to measure)."""
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, float | np.floating):
        return float(data) if np.isfinite(data) else None
    return data


def _progress(progress: bool | Progress | None, desc: str, total: int) -> tuple[Progress, Callable[[], None]]:
    if callable(progress):
        return progress, lambda: None
    if not progress or total == 0:
        return (lambda done, total: None), lambda: None
    import sys

    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit="head", file=sys.stderr, dynamic_ncols=True)

    def update(done: int, total: int) -> None:
        bar.n = done
        bar.refresh()

    return update, bar.close
