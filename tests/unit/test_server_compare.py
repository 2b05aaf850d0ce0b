"""The compare and scrubbing routes, in process: drift per head, and the Procrustes transforms that
lay one head's layout over another's (another run's same head, the head above, the head beside)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from attentionviz.analysis.series import mark_step
from attentionviz.hosts.server import create_app
from attentionviz.layouts import Layout
from attentionviz.store import head_outputs
from tests.support.synthetic import make_synthetic_run

PCA = Layout("pca", 2)
TURN = np.array([[0.0, -1.0], [1.0, 0.0]])  # a quarter turn


def _apply(transform: dict, coords: np.ndarray) -> np.ndarray:
    return transform["scale"] * coords @ np.asarray(transform["rotation"]) + np.asarray(transform["shift"])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """alpha; beta = alpha with head (1, 2)'s layout turned and scaled and head (0, 1)'s scrambled;
    narrow, another architecture; two steps of a training series; layer 1 head 0 of alpha is a
    turned copy of layer 0 head 0."""
    folder = tmp_path_factory.mktemp("compare-runs")
    alpha = folder / "alpha"
    make_synthetic_run(alpha, layers=2, heads=3, tokens=150, layouts=(("pca", 2), ("pca", 3)), seed=1)
    above = head_outputs.load_layout(alpha, 0, 0, PCA)
    head_outputs.save_layout(alpha, 1, 0, PCA, 0.5 * above @ TURN - 3, {})
    beta = folder / "beta"
    shutil.copytree(alpha, beta)
    head_outputs.save_layout(beta, 1, 2, PCA, 4 * head_outputs.load_layout(alpha, 1, 2, PCA) @ TURN + 1, {})
    scrambled = np.random.default_rng(0).permutation(head_outputs.load_layout(alpha, 0, 1, PCA))
    head_outputs.save_layout(beta, 0, 1, PCA, scrambled, {})
    make_synthetic_run(folder / "narrow", layers=2, heads=2, tokens=150, layouts=(("pca", 2),), seed=1)
    for step in (0, 10, 20, 30):
        shutil.copytree(alpha, folder / f"step-{step:08d}")
        mark_step(folder / f"step-{step:08d}", series="training", step=step)
    return folder


@pytest.fixture(scope="module")
def client(runs: Path) -> TestClient:
    return TestClient(create_app([runs], static_dir=None))


def test_runs_of_a_training_series_say_their_series_and_step(client: TestClient) -> None:
    summaries = {r["id"]: r for r in client.get("/api/runs").json()}
    assert (summaries["step-00000010"]["series"], summaries["step-00000010"]["step"]) == ("training", 10)
    assert summaries["alpha"]["series"] is None and summaries["alpha"]["step"] is None
    assert client.get("/api/runs/step-00000000").json()["step"] == 0


def test_comparison_gives_every_head_its_drift_and_parts(client: TestClient) -> None:
    answer = client.get("/api/runs/alpha/compare/beta").json()
    assert (answer["run"], answer["other"], answer["kind"], answer["layout"]) == (
        "alpha",
        "beta",
        "drift",
        "pca.2d",
    )
    assert answer["shared_tokens"] == 150
    heads = {(h["layer"], h["head"]): h for h in answer["heads"]}
    assert len(heads) == 6
    assert heads[(0, 1)]["layout"] > 0.5, "scrambled tokens"
    assert heads[(1, 2)]["layout"] < 1e-9, "turned and scaled: the same picture"
    assert all(h["attention"] == 0.0 and h["fingerprint"] == 0.0 for h in heads.values())
    assert max(heads.values(), key=lambda h: h["drift"]) is heads[(0, 1)]
    itself = client.get("/api/runs/alpha/compare/alpha").json()
    assert all(h["drift"] == 0.0 for h in itself["heads"])


def test_compare_alignments_lay_the_other_runs_head_over_this_runs(client: TestClient, runs: Path) -> None:
    answer = client.get("/api/runs/alpha/compare/beta/pca.2d").json()
    assert (answer["other"], answer["layout"]) == ("beta", "pca.2d")
    transform = {(h["layer"], h["head"]): h["other"] for h in answer["heads"]}[(1, 2)]
    mine = head_outputs.load_layout(runs / "alpha", 1, 2, PCA)
    theirs = head_outputs.load_layout(runs / "beta", 1, 2, PCA)
    np.testing.assert_allclose(_apply(transform, theirs), mine, atol=1e-4)
    assert transform["residual"] < 1e-9
    three = client.get("/api/runs/alpha/compare/beta/pca.3d").json()
    assert np.asarray(three["heads"][0]["other"]["rotation"]).shape == (3, 3)


def test_run_alignments_lay_each_head_over_the_one_above_and_the_one_beside(
    client: TestClient, runs: Path
) -> None:
    answer = client.get("/api/runs/alpha/alignments/pca.2d").json()
    assert answer["other"] is None
    heads = {(h["layer"], h["head"]): h for h in answer["heads"]}
    assert heads[(0, 0)]["previous_layer"] is None and heads[(0, 0)]["previous_head"] is None
    assert heads[(0, 2)]["previous_head"] is not None and heads[(0, 2)]["previous_layer"] is None
    down = heads[(1, 0)]["previous_layer"]
    np.testing.assert_allclose(
        _apply(down, head_outputs.load_layout(runs / "alpha", 1, 0, PCA)),
        head_outputs.load_layout(runs / "alpha", 0, 0, PCA),
        atol=1e-4,
    )
    assert heads[(1, 1)]["previous_layer"]["residual"] > 0.1, "unrelated heads leave a residual"


def test_runs_of_another_architecture_get_each_heads_nearest_heads(client: TestClient) -> None:
    answer = client.get("/api/runs/alpha/compare/narrow").json()
    assert answer["kind"] == "match" and "different architectures" in answer["why"]
    assert len(answer["heads"]) == 6
    for head in answer["heads"]:
        assert head["drift"] is None
        distances = [m["distance"] for m in head["matches"]]
        assert len(distances) == 3 and distances == sorted(distances)
        assert all(0 <= m["layer"] < 2 and 0 <= m["head"] < 2 for m in head["matches"])


def test_runs_that_cannot_be_aligned_answer_with_one_line(client: TestClient) -> None:
    assert client.get("/api/runs/alpha/compare/nothing").status_code == 404
    assert client.get("/api/runs/alpha/compare/narrow/pca.2d").status_code == 400
    assert client.get("/api/runs/alpha/alignments/tsne.2d").status_code == 404, "no head has it"
    assert client.get("/api/runs/alpha/alignments/nope.2d").status_code == 404


def test_an_export_of_several_runs_writes_the_comparisons_the_app_asks_for(
    client: TestClient, runs: Path, tmp_path: Path
) -> None:
    import json

    from attentionviz.hosts.export import export_site

    site = export_site(runs, tmp_path / "site").site
    api = site / "api" / "runs"
    assert json.loads((site / "api" / "runs" / "index.html").read_text())[0]["id"] == "alpha"
    for run, other in (("alpha", "beta"), ("beta", "alpha"), ("step-00000000", "step-00000010")):
        written = json.loads((api / run / "compare" / other / "index.html").read_text())
        assert written == client.get(f"/api/runs/{run}/compare/{other}").json()
        aligned = json.loads((api / run / "compare" / other / "pca.3d").read_text())
        assert aligned == client.get(f"/api/runs/{run}/compare/{other}/pca.3d").json()
    matched = json.loads((api / "alpha" / "compare" / "narrow" / "index.html").read_text())
    assert matched == client.get("/api/runs/alpha/compare/narrow").json(), (
        "another architecture: matched heads"
    )
    assert not (api / "alpha" / "compare" / "narrow" / "pca.2d").exists(), "nothing to align"
    assert (api / "step-00000020" / "compare" / "step-00000010").exists()
    assert (api / "step-00000030" / "compare" / "step-00000000").exists(), "each step against the first"
    assert not (api / "step-00000030" / "compare" / "step-00000010").exists(), "a series: consecutive steps"
    assert (api / "step-00000020" / "compare" / "alpha").exists(), "a run outside the series"
    scrub = json.loads((api / "alpha" / "alignments" / "pca.2d").read_text())
    assert scrub == client.get("/api/runs/alpha/alignments/pca.2d").json()
