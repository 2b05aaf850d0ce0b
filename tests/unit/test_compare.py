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


def test_the_fingerprint_part_moves_only_for_the_head_whose_fingerprint_changed(
    run_a: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "b"
    shutil.copytree(run_a, copy)
    metrics = head_outputs.load_head_json(copy, 0, 2, "metrics") or {}
    head_outputs.save_head_json(copy, 0, 2, "metrics", {**metrics, "entropy": metrics["entropy"] + 1.0})
    table = compare(av.open(run_a), av.open(copy)).set_index(["layer", "head"])
    assert 0 < table.loc[(0, 2), "fingerprint"] < 1
    assert table.loc[(0, 2), "drift"] == pytest.approx(table.loc[(0, 2), "fingerprint"] / 3)
    assert (table.drop(index=[(0, 2)])[["drift", "fingerprint"]] == 0.0).all().all()


def _with_entropies(path: Path, entropies: dict[tuple[int, int], float]) -> None:
    for (layer, head), entropy in entropies.items():
        head_outputs.save_head_json(path, layer, head, "metrics", {"entropy": entropy})


def test_runs_of_other_shapes_are_matched_head_for_head_by_fingerprint(run_a: Path, tmp_path: Path) -> None:
    """B is wider; four of its heads do what four heads of A do (their fingerprints are A's)."""
    a = av.open(shutil.copytree(run_a, tmp_path / "a"))
    wider = make_synthetic_run(tmp_path / "wider", layers=2, heads=4, tokens=240, layouts=(), seed=4)
    mine = {(layer, head): 1.0 + layer * 3 + head for layer in range(2) for head in range(3)}
    _with_entropies(a.path, mine)
    same = {
        (0, 0): (1, 3),
        (0, 2): (0, 1),
        (1, 1): (1, 0),
        (1, 2): (0, 3),
    }  # A's head: B's head doing its job
    _with_entropies(wider.path, {b: mine[a_] for a_, b in same.items()})
    _with_entropies(wider.path, {(0, 0): 40.0, (0, 2): 50.0, (1, 1): 60.0, (1, 2): 70.0})

    table = compare(a, wider, matches=2)
    assert table.attrs["kind"] == "match" and "different architectures" in table.attrs["why"]
    assert list(table.columns[:5]) == ["layer", "head", "match_layer", "match_head", "distance"]
    assert len(table) == 6
    rows = table.set_index(["layer", "head"])
    for head_a, head_b in same.items():
        row = rows.loc[head_a]
        assert (row["match_layer"], row["match_head"]) == head_b
        assert row["distance"] < 1e-6 and row["mutual"]
    for matches in table["matches"]:
        assert len(matches) == 2 and matches[0][2] <= matches[1][2]


def test_runs_of_one_shape_over_other_corpora_are_matched_and_runs_without_fingerprints_refused(
    run_a: Path, tmp_path: Path
) -> None:
    stranger = make_synthetic_run(
        tmp_path / "stranger", layers=2, heads=3, tokens=30, seq_len=(30, 30), layouts=(), seed=11
    )
    table = compare(av.open(run_a), stranger)
    assert table.attrs["kind"] == "match" and "share no sequence" in table.attrs["why"]
    bare = make_synthetic_run(
        tmp_path / "bare", layers=1, heads=2, tokens=30, layouts=(), metrics=False, seed=3
    )
    with pytest.raises(AttentionVizError, match="no head fingerprints"):
        compare(av.open(run_a), bare)
