"""The per-layer routes the Matrix View reads: every head of a layer in one frame, as LOD slices or by token."""

from __future__ import annotations

import numpy as np
import pytest
from fastapi.testclient import TestClient

from attentionviz.hosts.server import create_app
from attentionviz.readmodel.tables import lod_order
from attentionviz.store.reader import Run
from tests.support.frames import frame
from tests.support.synthetic import make_synthetic_run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("layer-runs")
    return make_synthetic_run(folder / "alpha", layers=2, heads=3, tokens=150, layouts=(("tsne", 2),), seed=4)


@pytest.fixture(scope="module")
def client(run: Run) -> TestClient:
    return TestClient(create_app([run.path.parent], static_dir=None))


def close(got: np.ndarray, stored: np.ndarray, whole: np.ndarray) -> bool:
    """Equal up to uint16 quantisation over the whole layout's extent."""
    step = (whole.max(axis=0) - whole.min(axis=0)) / 65535
    return bool(np.all(np.abs(got - stored) <= step + 1e-5))


def test_a_layer_frame_holds_each_heads_lod_slice(client: TestClient, run: Run) -> None:
    n = run.info.n_tokens
    meta, arrays = frame(client, "/api/runs/alpha/layers.1/tsne.2d?start=40&limit=60")
    assert meta["heads"] == [0, 1, 2] and meta["order"] == "lod"
    assert (meta["start"], meta["rows"], meta["n_points"]) == (40, 60, 2 * n)
    rows = lod_order(n)[40:100]
    for h in range(3):
        stored = np.asarray(run.head(1, h).layout("tsne", 2))
        assert arrays[f"heads.{h}"].shape == (60, 2)
        assert close(arrays[f"heads.{h}"], stored[rows], stored)


def test_slices_from_several_requests_decode_onto_one_grid(client: TestClient, run: Run) -> None:
    """Each head is quantised over its whole layout, so a preview and the rest join seamlessly."""
    _, first = frame(client, "/api/runs/alpha/layers.0/tsne.2d?limit=20")
    _, rest = frame(client, "/api/runs/alpha/layers.0/tsne.2d?start=20")
    _, whole = frame(client, "/api/runs/alpha/layers.0/tsne.2d")
    for h in range(3):
        joined = np.concatenate([first[f"heads.{h}"], rest[f"heads.{h}"]])
        assert np.array_equal(joined, whole[f"heads.{h}"])


def test_tokens_give_their_query_and_key_rows_for_every_head(client: TestClient, run: Run) -> None:
    n = run.info.n_tokens
    meta, arrays = frame(client, f"/api/runs/alpha/layers.1/tsne.2d?tokens=7,0,{n - 1}&heads=2,0")
    assert meta["order"] == "tokens" and meta["heads"] == [0, 2]
    assert arrays["rows"].tolist() == [0, n, 7, n + 7, n - 1, 2 * n - 1]
    for h in (0, 2):
        stored = np.asarray(run.head(1, h).layout("tsne", 2))
        assert close(arrays[f"heads.{h}"], stored[arrays["rows"]], stored)


def test_layer_norms_match_the_per_head_norms(client: TestClient, run: Run) -> None:
    _, arrays = frame(client, "/api/runs/alpha/layers.0/norms?limit=50&heads=1")
    head = run.head(0, 1)
    both = np.concatenate([np.linalg.norm(head.queries(), axis=1), np.linalg.norm(head.keys(), axis=1)])
    assert list(arrays) == ["heads.1"]
    assert np.allclose(
        arrays["heads.1"], both[lod_order(run.info.n_tokens)[:50]], atol=np.ptp(both) / 65535 * 2
    )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/runs/nope/layers.0/tsne.2d", "no run named 'nope'"),
        ("/api/runs/alpha/layers.2/tsne.2d", "layer 2 is out of range"),
        ("/api/runs/alpha/layers.0/tsne.2d?heads=1,3", "head 3 is out of range"),
        ("/api/runs/alpha/layers.0/umap.2d", "no umap.2d layout for layer 0"),
        ("/api/runs/alpha/layers.0/magic.2d", "unknown layout magic.2d"),
        ("/api/runs/alpha/layers.0/tsne.2d?tokens=1,150", "token 150 is out of range"),
        ("/api/runs/alpha/layers.5/norms", "layer 5 is out of range"),
        ("/api/runs/nope/layers.0/norms", "no run named 'nope'"),
    ],
)
def test_missing_things_are_404_with_a_clear_message(client: TestClient, url: str, message: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert message in response.json()["detail"]


@pytest.mark.parametrize("query", ["tokens=a", "tokens=1,,2", "heads=-1", "start=-3", "limit=0"])
def test_malformed_queries_are_client_errors(client: TestClient, query: str) -> None:
    assert client.get(f"/api/runs/alpha/layers.0/tsne.2d?{query}").status_code == 422


def test_the_layer_routes_are_in_the_openapi_schema(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    for path in ("/api/runs/{run}/layers.{layer}/{layout}", "/api/runs/{run}/layers.{layer}/norms"):
        get = paths[path]["get"]
        assert "application/octet-stream" in get["responses"]["200"]["content"] and "404" in get["responses"]
        assert {p["name"] for p in get["parameters"]} >= {"start", "limit", "heads", "tokens"}
