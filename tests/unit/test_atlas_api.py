"""The head atlas over HTTP (in-process): every new route answers what the analysis computes, and a
run without probes or values says what to do in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

import attentionviz as av
from attentionviz.analysis import scores
from attentionviz.analysis.pipeline import analyse_run, probes_of
from attentionviz.analysis.values import load_value_layout
from attentionviz.hosts.server import create_app
from attentionviz.layouts import Layout
from attentionviz.store.recompute import attention_from_qk
from tests.support.frames import frame
from tests.support.synthetic import make_synthetic_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("atlas-api")
    make_synthetic_run(folder / "alpha", layers=2, heads=3, tokens=150, probes=True, values=True, seed=1)
    make_synthetic_run(folder / "beta", layers=3, heads=2, tokens=100, seed=2)
    for name in ("alpha", "beta"):
        analyse_run(folder / name, workers=1)
    return folder


@pytest.fixture(scope="module")
def client(runs: Path) -> TestClient:
    return TestClient(create_app([runs], static_dir=None))


def test_the_metrics_table_has_a_row_per_head_with_the_probe_scores(client: TestClient, runs: Path) -> None:
    meta, arrays = frame(client, "/api/runs/alpha/metrics")
    table = av.open(runs / "alpha").metrics
    assert (meta["layers"], meta["heads"]) == (2, 3)
    assert "induction" in meta["columns"] and "entropy" in meta["columns"]
    values = arrays["values"]  # [layers * heads, columns]
    assert values.shape == (6, len(meta["columns"]))
    c = meta["columns"].index("induction")
    assert np.allclose(values[:, c], table["induction"].to_numpy(), equal_nan=True)


def test_the_head_map_holds_every_head_of_every_run_served(client: TestClient) -> None:
    for method in ("umap", "pca"):
        meta, arrays = frame(client, f"/api/headmap/{method}")
        assert meta["runs"] == ["alpha", "beta"] and meta["n"] == 6 + 6
        assert np.bincount(arrays["run"]).tolist() == [6, 6]
        rows = zip(arrays["run"], arrays["layer"], arrays["head"], strict=True)
        pairs = {(meta["runs"][r], int(layer), int(head)) for r, layer, head in rows}
        assert len(pairs) == 12
        assert arrays["coords"].shape == (12, 2) and np.isfinite(arrays["coords"]).all()
        assert arrays["values"].shape == (12, len(meta["columns"]))
    assert client.get("/api/headmap/tsne").status_code == 404


def test_related_heads_are_the_nearest_five_in_every_run_but_the_head_itself(client: TestClient) -> None:
    found = client.get("/api/runs/alpha/layers.1.heads.2/related").json()
    assert len(found) == 5
    assert {"run": "alpha", "layer": 1, "head": 2} not in [
        {k: r[k] for k in ("run", "layer", "head")} for r in found
    ]
    distances = [r["distance"] for r in found]
    assert distances == sorted(distances)
    assert {r["run"] for r in found} <= {"alpha", "beta"}
    assert client.get("/api/runs/alpha/layers.5.heads.0/related").status_code == 404


def test_keys_needed_are_the_analysis_own(client: TestClient, runs: Path) -> None:
    meta, arrays = frame(client, "/api/runs/beta/layers.2.heads.1/keys-needed")
    assert meta["mass"] == 0.9 and meta["n_tokens"] == 100
    expected = scores.keys_needed(av.open(runs / "beta"), 2, 1)
    assert np.array_equal(arrays["keys"], expected.astype(np.uint16))


def test_value_layouts_and_their_norms(client: TestClient, runs: Path) -> None:
    details = client.get("/api/runs/alpha/layers.0.heads.1").json()
    assert details["value_layouts"] == ["pca.2d", "umap.2d"]  # analyse_run added UMAP
    meta, arrays = frame(client, "/api/runs/alpha/layers.0.heads.1/values/pca.2d")
    run = av.open(runs / "alpha")
    stored = load_value_layout(run, 0, 1, Layout("pca", 2))
    assert arrays["coords"].shape == (150, 2) and meta["order"] == "token"
    span = np.ptp(stored, axis=0)
    assert np.abs(arrays["coords"] - stored).max(axis=0).tolist() <= (span / 65535 + 1e-6).tolist()
    assert np.allclose(
        arrays["norms"],
        run.head(0, 1).value_norms(),
        atol=np.ptp(run.head(0, 1).value_norms()) / 65535 + 1e-6,
    )
    assert client.get("/api/runs/beta/layers.0.heads.1").json()["value_layouts"] == []
    missing = client.get("/api/runs/beta/layers.0.heads.1/values/pca.2d")
    assert missing.status_code == 404 and "--values" in missing.json()["detail"]


def test_probe_attention_is_derived_from_the_probes_queries_and_keys(client: TestClient, runs: Path) -> None:
    assert client.get("/api/runs/alpha").json()["probes"] == 4
    assert client.get("/api/runs/beta").json()["probes"] == 0
    probes = probes_of(av.open(runs / "alpha"))
    assert probes is not None
    _, tokens = frame(client, "/api/runs/alpha/probes/tokens")
    _, sequences = frame(client, "/api/runs/alpha/probes/sequences")
    assert len(tokens["token"]) == probes.info.n_tokens and len(sequences["text"]) == 4
    meta, arrays = frame(client, "/api/runs/alpha/layers.1.heads.0/probes/2")
    start, length = probes.sequence_bounds(2)
    head = probes.head(1, 0)
    expected = attention_from_qk(
        head.queries()[start : start + length], head.keys()[start : start + length], probes.manifest.layers[1]
    )
    assert meta["n_tokens"] == length
    assert np.abs(arrays["attention"].reshape(length, length) - expected).max() < 1e-4
    for url in ("/api/runs/beta/probes/tokens", "/api/runs/beta/layers.0.heads.0/probes/0"):
        answer = client.get(url)
        assert answer.status_code == 404 and "--probes" in answer.json()["detail"]


def test_verify_checks_the_probe_run_too(tmp_path: Path) -> None:
    from attentionviz.store import names
    from attentionviz.store.verify import verify_run

    run = make_synthetic_run(tmp_path / "run", layers=1, heads=2, tokens=80, probes=True)
    assert verify_run(run.path, quick=True).ok
    damaged = names.array_path(run.path / "probes", names.array_name(0, "q"))
    damaged.write_bytes(damaged.read_bytes()[:-16])  # a truncated probe array
    report = verify_run(run.path, quick=True)
    assert not report.ok and any("probes" in problem for problem in report.problems)
