"""Coarse layouts first, full ones refined from them (issue 16.1): what `embed` stores at each step,
what the server says about it, and the order a viewer's focus gives the heads."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

import attentionviz as av
from attentionviz.embed import coarse
from attentionviz.embed.pipeline import embed_run, head_complete
from attentionviz.embed.plan import plan_layouts
from attentionviz.hosts.demo import FollowOpenedHeads
from attentionviz.hosts.server import create_app
from attentionviz.layouts import Layout
from attentionviz.store import head_outputs
from attentionviz.store.lod import lod_order
from tests.support.synthetic import make_synthetic_run

TOKENS = coarse.COARSE_ROWS + 100  # just big enough for a coarse layout first
COARSE = {Layout("tsne", 2), Layout("umap", 2)}


def test_coarse_geometry_helpers() -> None:
    rng = np.random.default_rng(0)
    coords = rng.normal(size=(300, 2)) * [5.0, 1.0]
    even = coarse.spread_evenly(coords)
    assert np.allclose(even.std(axis=0), even.std(axis=0).mean(), rtol=1e-4)
    turn = np.array([[0.0, -1.0], [1.0, 0.0]])
    moved = (coords @ turn) * 3.0 + [7.0, -2.0]
    rows = np.arange(0, 300, 3)
    assert np.allclose(coarse.align(moved, rows, coords[rows]), coords, atol=1e-4)

    x = rng.normal(size=(300, 8)).astype(np.float32)
    sample = np.sort(lod_order(150)[:100]).astype(np.int64)
    placed = rng.normal(size=(100, 2)).astype(np.float32)
    start = coarse.extend(x, sample, placed, metric="cosine", seed=0)
    assert np.array_equal(start[sample], placed)  # sampled rows keep their places
    unit = x / np.linalg.norm(x, axis=1, keepdims=True)
    nearest = np.argmax(unit @ unit[sample].T, axis=1)
    assert np.abs(start - placed[nearest]).max() < 0.05 * placed.std()  # the others beside their nearest


@pytest.fixture
def run(tmp_path: Path) -> av.Run:
    return make_synthetic_run(tmp_path / "runs" / "big", layers=1, heads=2, tokens=TOKENS, layouts=(), seed=4)


def test_coarse_layouts_come_first_and_full_ones_replace_them_in_place(run: av.Run, tmp_path: Path) -> None:
    api = TestClient(create_app([tmp_path / "runs"], static_dir=None))
    embed_run(run.path, workers=2, refine=False)
    sample = coarse.coarse_sample(TOKENS)
    assert sample is not None and len(sample) == coarse.COARSE_ROWS
    details = api.get("/api/runs/big").json()
    assert details["coarse"] == {"tsne.2d": [0, 1], "umap.2d": [0, 1]}
    assert "tsne 2D 2/2 (2 still coarse)" in str(av.open(run.path))
    before = {}
    for h in (0, 1):
        assert set(head_outputs.coarse_layouts(run.path, 0, h)) == COARSE
        assert not head_complete(run, 0, h, plan_layouts())
        for layout in COARSE:
            stored = np.array(head_outputs.load_layout(run.path, 0, h, layout))
            assert stored.shape == (2 * TOKENS, 2) and np.isfinite(stored).all()
            assert head_outputs.load_layout_meta(run.path, 0, h, layout)["coarse"]["rows"] == len(sample)
            before[h, layout] = stored

    embed_run(run.path, workers=2)
    assert api.get("/api/runs/big").json()["coarse"] == {}
    opened = av.open(run.path)
    for (h, layout), rough in before.items():
        full = opened.head(0, h).layout(*layout)
        assert not np.allclose(full, rough)
        assert coarse.displacement(rough, full, sample) < 0.05  # the rows a cell draws barely move
        meta = head_outputs.load_layout_meta(run.path, 0, h, layout)
        assert "refined_from" in meta and meta["quality"]["trustworthiness"] > 0.8
        assert head_complete(run, 0, h, plan_layouts())


def test_the_head_a_viewer_opens_is_embedded_first(run: av.Run, tmp_path: Path) -> None:
    app = create_app([tmp_path / "runs"], static_dir=None)
    app.add_middleware(FollowOpenedHeads, run_id="big", run_dir=run.path)
    api = TestClient(app)
    assert api.get("/api/runs/big/layers.0.heads.1").status_code == 200  # the Single View opens head 1
    assert head_outputs.focus(run.path) == [(0, 1)]
    assert api.get("/api/runs/big/layers.0").status_code == 404  # other requests say nothing
    assert head_outputs.focus(run.path) == [(0, 1)]

    embed_run(run.path, layouts=("pca", "umap"), dims=(2,), workers=1)
    done = {
        h: (run.path / "heads" / f"layers.0.heads.{h}" / "fidelity.json").stat().st_mtime_ns for h in (0, 1)
    }
    assert done[1] < done[0]  # head 1 was refined first
