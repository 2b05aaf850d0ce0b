"""Comparing two runs head by head (no model): drift is 0 for identical heads, each part measures
what it says, and runs that cannot be compared say why in one line."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

import attentionviz as av
from attentionviz.analysis.compare import compare, js_divergence_rows
from attentionviz.errors import AttentionVizError
from attentionviz.layouts import Layout
from attentionviz.store import head_outputs
from tests.support.synthetic import make_synthetic_run


@pytest.fixture(scope="module")
def run_a(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("compare") / "a"
    make_synthetic_run(path, layers=2, heads=3, tokens=240, layouts=(("pca", 2),), seed=4)
    return path


def test_js_divergence_is_zero_for_identical_rows_and_one_for_disjoint_ones() -> None:
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(7), size=5)
    assert (js_divergence_rows(p, p.copy()) == 0.0).all()
    disjoint = js_divergence_rows(np.array([[0.5, 0.5, 0, 0]]), np.array([[0, 0, 0.5, 0.5]]))
    assert disjoint[0] == pytest.approx(1.0)
    half = js_divergence_rows(np.array([[1.0, 0.0]]), np.array([[0.5, 0.5]]))
    expected = 0.5 * (np.log2(1 / 0.75)) + 0.5 * (0.5 * np.log2(0.5 / 0.75) + 0.5 * np.log2(0.5 / 0.25))
    assert half[0] == pytest.approx(expected)


def test_a_run_compared_with_itself_has_zero_drift_everywhere(run_a: Path) -> None:
    run = av.open(run_a)
    table = compare(run, run)
    assert len(table) == 6
    assert list(table.columns[:3]) == ["layer", "head", "drift"]
    assert (table[["drift", "attention", "layout"]] == 0.0).all().all()
    assert table.attrs["shared_tokens"] == run.info.n_tokens
    assert table.attrs["layout"] == "pca.2d"


def test_each_part_moves_only_for_the_head_that_changed(run_a: Path, tmp_path: Path) -> None:
    copy = tmp_path / "b"
    shutil.copytree(run_a, copy)
    layout = Layout("pca", 2)
    coords = head_outputs.load_layout(copy, 1, 2, layout)
    rotated = 2.5 * coords @ np.array([[0.0, -1.0], [1.0, 0.0]]) + 7.0  # the same picture, turned
    head_outputs.save_layout(copy, 1, 2, layout, rotated, {})
    scrambled = np.random.default_rng(0).permutation(head_outputs.load_layout(copy, 0, 1, layout))
    head_outputs.save_layout(copy, 0, 1, layout, scrambled, {})

    table = compare(av.open(run_a), av.open(copy)).set_index(["layer", "head"])
    assert table.loc[(1, 2), "layout"] < 1e-9, "a rotated, scaled, shifted layout is the same layout"
    assert table.loc[(0, 1), "layout"] > 0.5, "tokens moved to other tokens' places"
    others = table.drop(index=[(0, 1), (1, 2)])
    assert (others["drift"] == 0.0).all()
    assert (table["attention"] == 0.0).all(), "no query or key changed"
    assert table["drift"].idxmax() == (0, 1)


def test_runs_of_other_shapes_or_corpora_are_refused_in_one_line(run_a: Path, tmp_path: Path) -> None:
    wider = make_synthetic_run(tmp_path / "wider", layers=2, heads=4, tokens=240, layouts=(), seed=4)
    with pytest.raises(AttentionVizError, match="different architectures"):
        compare(av.open(run_a), wider)
    stranger = make_synthetic_run(
        tmp_path / "stranger", layers=2, heads=3, tokens=30, seq_len=(30, 30), layouts=(), seed=11
    )
    with pytest.raises(AttentionVizError, match="share no sequence"):
        compare(av.open(run_a), stranger)
