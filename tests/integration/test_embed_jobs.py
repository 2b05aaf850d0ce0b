"""Heads as parallel jobs: the local process pool and a Dask distributed cluster give the same layouts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import attentionviz as av
from attentionviz.embed.pipeline import embed_run
from attentionviz.errors import AttentionVizError
from tests.support.synthetic import make_synthetic_run

LAYOUTS = ("umap", "pca")


def small_run(path: Path) -> av.Run:
    return make_synthetic_run(path, layers=1, heads=2, tokens=120, layouts=(), metrics=False)


def assert_same_layouts(first: av.Run, second: av.Run) -> None:
    for head in first.heads():
        assert sorted(head.layouts()) == [("pca", 2), ("pca", 3), ("umap", 2), ("umap", 3)]
        for method, dim in head.layouts():
            other = second.head(head.layer, head.head).layout(method, dim)
            np.testing.assert_array_equal(head.layout(method, dim), other)
        assert head.metrics and head.fidelity


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> av.Run:
    run = small_run(tmp_path_factory.mktemp("jobs") / "serial")
    embed_run(run.path, layouts=LAYOUTS, workers=1)
    return av.open(run.path)


def test_local_process_pool(reference: av.Run, tmp_path: Path) -> None:
    run = small_run(tmp_path / "pool")
    embed_run(run.path, layouts=LAYOUTS, workers=2)
    assert_same_layouts(av.open(run.path), reference)


def test_dask_local_cluster(reference: av.Run, tmp_path: Path) -> None:
    distributed = pytest.importorskip("distributed")
    run = small_run(tmp_path / "dask")
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        embed_run(run.path, layouts=LAYOUTS, cluster=cluster.scheduler_address)
    assert_same_layouts(av.open(run.path), reference)


def test_unreachable_cluster_is_a_one_line_error(tmp_path: Path) -> None:
    dask = pytest.importorskip("dask")
    pytest.importorskip("distributed")
    run = small_run(tmp_path / "nowhere")
    with (
        dask.config.set({"distributed.comm.timeouts.connect": "2s"}),
        pytest.raises(AttentionVizError, match="cannot reach the Dask scheduler"),
    ):
        embed_run(run.path, layouts=("umap",), dims=(2,), cluster="tcp://127.0.0.1:9")
