"""embed_run on small synthetic run folders: what is stored, resuming, PCA first, the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import attentionviz as av
from attentionviz.cli import main
from attentionviz.embed import pipeline, plan
from attentionviz.embed.fidelity import summarise
from attentionviz.errors import AttentionVizError
from attentionviz.layouts import Layout
from attentionviz.store import head_outputs
from tests.support.synthetic import make_synthetic_run

FAST = ("umap", "pca")


def fresh_run(path: Path, **kwargs: Any) -> av.Run:
    settings = {"layers": 1, "heads": 2, "tokens": 150, "layouts": (), "metrics": False, **kwargs}
    return make_synthetic_run(path, **settings)


def test_plan_defaults_leave_out_3d_tsne_unless_named() -> None:
    assert plan.plan_layouts(("tsne", "umap", "pca"), (2, 3)) == (
        ("tsne", 2),
        ("umap", 2),
        ("umap", 3),
        ("pca", 2),
        ("pca", 3),
    )
    assert ("tsne", 3) in plan.plan_layouts(("tsne", "tsne.3d"), (2, 3))
    assert plan.plan_layouts(("tsne",), (3,)) == (("tsne", 3),)
    assert plan.plan_layouts(("UMAP2d",), (2, 3)) == (("umap", 2),)
    with pytest.raises(AttentionVizError, match="unknown layout"):
        plan.plan_layouts(("mds",), (2,))
    with pytest.raises(AttentionVizError, match="2D or 3D"):
        plan.plan_layouts(("pca",), (4,))


def test_embed_run_stores_layouts_metrics_and_fidelity(tmp_path: Path) -> None:
    run = fresh_run(tmp_path / "run", kv_heads=1)
    seen: list[tuple[int, int]] = []
    pipeline.embed_run(
        run.path, layouts=FAST, workers=1, progress=lambda done, total: seen.append((done, total))
    )
    assert seen[-1] == (2, 2)
    n = run.info.n_tokens
    for head in av.open(run.path).heads():
        assert sorted(head.layouts()) == [("pca", 2), ("pca", 3), ("umap", 2), ("umap", 3)]
        for method, dim in head.layouts():
            coords = head.layout(method, dim)
            assert coords.shape == (2 * n, dim) and np.isfinite(coords).all()
            meta = head_outputs.load_layout_meta(run.path, head.layer, head.head, Layout(method, dim))
            chosen = meta["normalisation"]
            assert chosen["rule"].startswith("auto") and chosen["scale"] is False
            assert chosen["translate"] is (chosen["rho_translated"] <= 0.8 * chosen["rho_raw"])
            assert meta["quality"]["knn_preservation"] > 0.05
        assert {"entropy", "distance", "previous", "sparsity", "gap"} <= set(head.metrics)
        assert head.fidelity["space"]["raw"]["cosine"] < 0
        assert set(head.fidelity["layouts"]) == {"pca.2d", "pca.3d", "umap.2d", "umap.3d"}
    table = av.open(run.path).metrics
    assert len(table) == 2 and {"layer", "head", "entropy"} <= set(table.columns)
    summary = summarise(av.open(run.path))
    assert "umap 2D" in summary and "translated vectors" in summary


def test_the_chosen_normalisation_is_recorded(tmp_path: Path) -> None:
    run = fresh_run(tmp_path / "run", heads=1)
    how = pipeline.Normalisation(translate=False, scale=True)
    pipeline.embed_run(run.path, layouts=("pca",), dims=(2,), workers=1, normalisation=how)
    meta = head_outputs.load_layout_meta(run.path, 0, 0, Layout("pca", 2))
    assert meta["normalisation"] == {
        "translate": False,
        "scale": True,
        "c": pytest.approx(meta["normalisation"]["c"]),
    }
    assert meta["normalisation"]["c"] > 0


def test_pca_of_every_head_is_stored_before_the_expensive_layouts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = fresh_run(tmp_path / "run", heads=3)

    def interrupted(job: pipeline.HeadJob) -> pipeline.HeadResult:
        raise KeyboardInterrupt

    monkeypatch.setattr(pipeline, "embed_head", interrupted)
    with pytest.raises(KeyboardInterrupt):
        pipeline.embed_run(run.path, workers=1)
    for head in av.open(run.path).heads():
        assert sorted(head.layouts()) == [("pca", 2), ("pca", 3)]


def test_pca_alone_first_then_the_rest_gives_what_one_full_embed_gives(tmp_path: Path) -> None:
    first = fresh_run(tmp_path / "first", heads=2)
    whole = fresh_run(tmp_path / "whole", heads=2)
    pipeline.embed_quick(first.path)
    for head in av.open(first.path).heads():
        assert sorted(head.layouts()) == [("pca", 2), ("pca", 3)]
        assert head.fidelity == {} and head.metrics == {}  # left to the full embed
    pipeline.embed_run(first.path, layouts=FAST, workers=1)
    pipeline.embed_run(whole.path, layouts=FAST, workers=1)
    for a, b in zip(av.open(first.path).heads(), av.open(whole.path).heads(), strict=True):
        assert a.layouts() == b.layouts()
        for method, dim in b.layouts():
            np.testing.assert_array_equal(a.layout(method, dim), b.layout(method, dim))
            meta_a, meta_b = (
                head_outputs.load_layout_meta(run.path, b.layer, b.head, Layout(method, dim))
                for run in (first, whole)
            )
            assert meta_a["quality"] == meta_b["quality"]
        assert a.fidelity == b.fidelity and a.metrics == b.metrics


def test_a_running_embed_says_which_layouts_it_is_computing(tmp_path: Path) -> None:
    run = fresh_run(tmp_path / "run")
    seen: list[list[tuple[str, int]]] = []
    pipeline.embed_run(
        run.path,
        layouts=FAST,
        workers=1,
        progress=lambda done, total: seen.append(head_outputs.pending_layouts(run.path)),
    )
    assert len(seen) == 2
    assert all(set(pending) == {("umap", 2), ("umap", 3), ("pca", 2), ("pca", 3)} for pending in seen)
    assert head_outputs.pending_layouts(run.path) == []  # finished: nothing is pending


def test_an_interrupted_embed_resumes_where_it_stopped(tmp_path: Path) -> None:
    run = fresh_run(tmp_path / "run")
    pipeline.embed_run(run.path, layouts=FAST, workers=1)
    kept = head_outputs.layout_path(run.path, 0, 0, Layout("umap", 2))
    lost = head_outputs.layout_path(run.path, 0, 1, Layout("umap", 3))
    before = kept.stat().st_mtime_ns
    lost.unlink()
    assert not pipeline.head_complete(run, 0, 1, plan.plan_layouts(FAST, (2, 3)))
    pipeline.embed_run(run.path, layouts=FAST, workers=1)
    assert lost.exists()
    assert kept.stat().st_mtime_ns == before  # the finished head was not redone


def test_same_seed_same_layouts_other_seed_other_layouts(tmp_path: Path) -> None:
    layouts = {}
    for name, seed in (("a", 1), ("b", 1), ("c", 2)):
        run = fresh_run(tmp_path / name, heads=1)
        pipeline.embed_run(run.path, layouts=("tsne", "umap"), dims=(2,), workers=1, seed=seed)
        layouts[name] = [np.asarray(av.open(run.path).head(0, 0).layout(m, 2)) for m in ("tsne", "umap")]
    for first, second in zip(layouts["a"], layouts["b"], strict=True):
        np.testing.assert_array_equal(first, second)
    assert not np.array_equal(layouts["a"][1], layouts["c"][1])


def test_selected_heads_only(tmp_path: Path) -> None:
    run = fresh_run(tmp_path / "run", layers=2)
    pipeline.embed_run(run.path, layouts=("pca",), dims=(2,), heads=[(1, 0)], workers=1)
    assert av.open(run.path).head(1, 0).layouts() == [("pca", 2)]
    assert av.open(run.path).head(0, 0).layouts() == []
    with pytest.raises(AttentionVizError, match="out of range"):
        pipeline.embed_run(run.path, heads=[(5, 0)], workers=1)


def test_embed_command_line(tmp_path: Path) -> None:
    run = fresh_run(tmp_path / "run")
    runner = CliRunner()
    result = runner.invoke(
        main,
        [
            "embed",
            str(run.path),
            "--layouts",
            "pca",
            "--dims",
            "2",
            "--heads",
            "1",
            "--workers",
            "1",
            "--quiet",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "pca 2D" in result.output
    assert av.open(run.path).head(0, 1).layouts() == [("pca", 2)]
    assert av.open(run.path).head(0, 0).layouts() == []
    bad = runner.invoke(main, ["embed", str(run.path), "--layouts", "mds"])
    assert bad.exit_code == 2 and "unknown layout" in bad.output
    for option, value, message in (("--layers", "7", "out of range"), ("--heads", "a-b", "cannot read")):
        wrong = runner.invoke(main, ["embed", str(run.path), option, value, "--quiet", "--workers", "1"])
        assert wrong.exit_code == 2 and message in wrong.output, wrong.output
        assert len(wrong.output.strip().splitlines()) == 1
