"""Value-vector layouts (runs built with `--values`): each KV head's value vectors, laid out on
their own, beside the joint query/key layout.

    values/layers.{l}.kv_heads.{g}/pca.2d.npy    float32 [N, 2]: row t is token t's value vector
    values/layers.{l}.kv_heads.{g}/umap.2d.npy

A query head reads the values of its KV group (`run.info.kv_map`), so the query heads of one group
share a value layout. PCA is made for every KV head; UMAP (cosine kNN graph) too when the run has
enough tokens for it. One job per KV head (`attentionviz.jobs.run_jobs`); a layout that exists
is kept, so an interrupted run resumes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attentionviz.errors import RunNotFound
from attentionviz.layouts import Layout
from attentionviz.store import names
from attentionviz.store.arrays import as_float
from attentionviz.store.atomic import load_npy, write_npy
from attentionviz.store.reader import Run

log = logging.getLogger(__name__)

VALUES_DIR = "values"
METHODS = ("pca", "umap")
MIN_UMAP_POINTS = 32


def value_layout_path(run_dir: Path, layer: int, kv_head: int, layout: Layout) -> Path:
    return run_dir / VALUES_DIR / f"layers.{layer}.kv_heads.{kv_head}" / layout.file_name


@dataclass(frozen=True)
class ValueJob:
    run_dir: str
    layer: int
    kv_head: int
    seed: int
    overwrite: bool


def value_job(job: ValueJob) -> tuple[int, int]:
    """Every value layout of one KV head."""
    from threadpoolctl import threadpool_limits

    from attentionviz.embed.knn import knn_graph
    from attentionviz.embed.reducers import get_reducer

    run = Run(job.run_dir)
    name = names.array_name(job.layer, "v")
    stored = run.array(name)[job.kv_head][: run.info.n_tokens]  # the model's dtype (bfloat16: raw bits)
    v = np.asarray(as_float(stored, run.manifest.arrays[name]["dtype"]), dtype=np.float32)
    graph = None
    for method in METHODS:
        layout = Layout(method, 2)
        path = value_layout_path(run.path, job.layer, job.kv_head, layout)
        if path.exists() and not job.overwrite:
            continue
        reducer = get_reducer(method)
        needed = reducer.neighbours()
        if needed and len(v) < MIN_UMAP_POINTS:
            continue
        if needed and graph is None:
            graph = knn_graph(v, min(needed, len(v) - 1), metric="cosine")
        with threadpool_limits(1):
            coords = reducer.embed(v, dim=2, knn=graph, seed=job.seed)
        write_npy(path, np.asarray(coords, dtype=np.float32))
    return job.layer, job.kv_head


def embed_values(
    run: Run,
    *,
    seed: int = 0,
    overwrite: bool = False,
    workers: int | None = None,
    cluster: str | None = None,
) -> None:
    """Lay out every KV head's value vectors (PCA, and UMAP where the run is large enough)."""
    from attentionviz.jobs.runner import run_jobs

    info = run.info
    jobs = [
        ValueJob(str(run.path.resolve()), layer, g, seed, overwrite)
        for layer in range(info.layers)
        for g in range(info.kv_heads)
    ]
    for _ in run_jobs(value_job, jobs, workers=workers, cluster=cluster):
        pass


def value_layouts(run: Run, layer: int, kv_head: int) -> list[Layout]:
    folder = value_layout_path(run.path, layer, kv_head, Layout("pca", 2)).parent
    return [layout for layout in (Layout(m, 2) for m in METHODS) if (folder / layout.file_name).is_file()]


def load_value_layout(run: Run, layer: int, head: int, layout: Layout) -> np.ndarray:
    """[N, 2] the value layout of query head `head`'s KV group."""
    path = value_layout_path(run.path, layer, run.info.kv_map[head], layout)
    if not path.is_file():
        raise RunNotFound(
            f"no {layout.key} value layout for layer {layer} head {head}; build the run with --values"
        )
    return load_npy(names.inside_run(run.path, path))
