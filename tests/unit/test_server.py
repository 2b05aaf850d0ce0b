"""The HTTP API, in process (no ports): every route, its binary frames, and its 404s."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from attentionviz.hosts.server import create_app
from attentionviz.readmodel import routes
from attentionviz.readmodel.frames import Frame, decode
from attentionviz.readmodel.models import TokensMeta
from attentionviz.readmodel.registry import RunRegistry
from attentionviz.readmodel.tables import lod_order
from attentionviz.store.reader import Run
from tests.support.frames import frame
from tests.support.synthetic import add_synthetic_layout, make_synthetic_run

LAYOUTS = (("tsne", 2), ("pca", 2), ("pca", 3))


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("runs")
    make_synthetic_run(
        folder / "alpha", layers=2, heads=3, tokens=120, layouts=LAYOUTS, untranslated=[(1, 0)], seed=1
    )
    make_synthetic_run(
        folder / "beta", layers=1, heads=2, tokens=40, layouts=(("pca", 2),), metrics=False, seed=2
    )
    return folder


@pytest.fixture(scope="module")
def run(runs: Path) -> Run:
    return Run(runs / "alpha")


@pytest.fixture(scope="module")
def client(runs: Path) -> TestClient:
    return TestClient(create_app([runs], static_dir=None))


def test_api_lists_runs_of_a_folder(client: TestClient) -> None:
    assert client.get("/api").json()["runs"] == ["alpha", "beta"]
    summaries = {r["id"]: r for r in client.get("/api/runs").json()}
    assert summaries["alpha"]["layers"] == 2 and summaries["alpha"]["heads"] == 3
    assert summaries["beta"]["n_tokens"] == 40


def test_run_details_say_which_heads_have_which_layouts(client: TestClient) -> None:
    details = client.get("/api/runs/alpha").json()
    assert details["kv_map"] == [0, 1, 2]
    assert details["layouts"] == {
        "tsne.2d": list(range(6)),
        "pca.2d": list(range(6)),
        "pca.3d": list(range(6)),
    }
    assert client.get("/api/runs/alpha/layouts").json() == details["layouts"]


def test_run_details_list_the_heads_whose_keys_the_automatic_rule_left_untranslated(
    client: TestClient, tmp_path: Path
) -> None:
    assert client.get("/api/runs/alpha").json()["untranslated"] == [3]  # layer 1 head 0 of 3 heads
    # keys left untranslated by no rule (a head that soft-caps its logits) are not marked
    make_synthetic_run(tmp_path / "capped", layers=1, heads=2, tokens=30, layouts=LAYOUTS, seed=5)
    for path in (tmp_path / "capped" / "heads" / "layers.0.heads.1").glob("*.*d.json"):
        record = json.loads(path.read_text())
        path.write_text(
            json.dumps({**record, "normalisation": {"translate": False, "scale": False, "c": 1.0}})
        )
    capped = TestClient(create_app([tmp_path / "capped"], static_dir=None))
    assert capped.get("/api/runs/capped").json()["untranslated"] == []


def test_head_details_hold_metrics_and_fidelity(client: TestClient) -> None:
    head = client.get("/api/runs/alpha/layers.1.heads.2").json()
    assert head["name"] == "layers.1.heads.2"
    assert set(head["layouts"]) == {"tsne.2d", "pca.2d", "pca.3d"}
    assert "entropy" in head["metrics"] and "pca.2d" in head["fidelity"]
    bare = client.get("/api/runs/beta/layers.0.heads.1").json()
    assert bare["metrics"] == {} and bare["fidelity"] == {}


@pytest.mark.parametrize(("method", "dim"), LAYOUTS)
def test_layout_frame_matches_the_stored_layout(client: TestClient, run: Run, method: str, dim: int) -> None:
    meta, arrays = frame(client, f"/api/runs/alpha/layers.1.heads.0/{method}.{dim}d")
    stored = np.asarray(run.head(1, 0).layout(method, dim))
    assert meta["rows"] == 2 * run.info.n_tokens and arrays["coords"].shape == stored.shape
    span = stored.max(axis=0) - stored.min(axis=0)
    assert np.all(np.abs(arrays["coords"] - stored) <= span / 65535 + 1e-5)


def test_lod_order_is_a_permutation_pairing_query_and_key(client: TestClient, run: Run) -> None:
    n = run.info.n_tokens
    _, arrays = frame(client, "/api/runs/alpha/lod-order")
    order = arrays["order"]
    assert sorted(order.tolist()) == list(range(2 * n))
    assert np.all(order[1::2] == order[0::2] + n)  # each query row is followed by its key row


def test_lod_prefix_is_the_same_rows_as_the_full_layout(client: TestClient, run: Run) -> None:
    _, full = frame(client, "/api/runs/alpha/layers.0.heads.1/tsne.2d?order=lod")
    meta, prefix = frame(client, "/api/runs/alpha/layers.0.heads.1/tsne.2d?order=lod&limit=30")
    assert meta["rows"] == 30
    stored = np.asarray(run.head(0, 1).layout("tsne", 2))
    expected = stored[lod_order(run.info.n_tokens)[:30]]
    assert np.allclose(prefix["coords"], expected, atol=float(np.ptp(stored)) / 65535 * 2)
    assert np.allclose(full["coords"][:30], expected, atol=float(np.ptp(stored)) / 65535 * 2)


def test_norms_are_query_then_key_vector_lengths(client: TestClient, run: Run) -> None:
    _, arrays = frame(client, "/api/runs/alpha/layers.1.heads.1/norms")
    head = run.head(1, 1)
    expected = np.concatenate([np.linalg.norm(head.queries(), axis=1), np.linalg.norm(head.keys(), axis=1)])
    assert np.allclose(arrays["norms"], expected, atol=float(np.ptp(expected)) / 65535 * 2)


def test_token_table_round_trips(client: TestClient, run: Run) -> None:
    meta, arrays = frame(client, "/api/runs/alpha/tokens")
    table = run.tokens
    assert meta["n_tokens"] == len(table)
    values = arrays["token.values"]
    assert [values[c] for c in arrays["token"]] == table["token"].tolist()
    for column in ("sequence", "position", "seq_len", "char_start", "char_end"):
        assert arrays[column].tolist() == table[column].tolist()
    assert arrays["special"].astype(bool).tolist() == table["special"].tolist()


def test_sequence_table_round_trips(client: TestClient, run: Run) -> None:
    _, arrays = frame(client, "/api/runs/alpha/sequences")
    assert arrays["text"] == run.sequences["text"].tolist()
    assert arrays["token_start"].tolist() == run.sequences["token_start"].tolist()


def test_a_10k_point_layout_is_under_5_percent_of_the_original_json(tmp_path: Path) -> None:
    make_synthetic_run(
        tmp_path / "big", layers=1, heads=1, tokens=5000, layouts=(("tsne", 2),), metrics=False
    )
    client = TestClient(create_app([tmp_path / "big"], static_dir=None))
    response = client.get("/api/runs/big/layers.0.heads.0/tsne.2d", headers={"Accept-Encoding": "gzip"})
    wire = (
        len(gzip.compress(response.content)) if response.headers.get("content-encoding") != "gzip" else None
    )
    size = wire or int(response.headers.get("content-length", len(response.content)))
    assert size <= 0.05 * 1.48e6


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/runs/nope", "no run named 'nope'"),
        ("/api/runs/nope/tokens", "no run named 'nope'"),
        ("/api/runs/alpha/layers.7.heads.0", "layer 7 is out of range"),
        ("/api/runs/alpha/layers.0.heads.9/tsne.2d", "head 9 is out of range"),
        ("/api/runs/alpha/layers.0.heads.9/norms", "head 9 is out of range"),
        ("/api/runs/alpha/layers.0.heads.0/umap.2d", "no umap.2d layout"),
        ("/api/runs/alpha/layers.0.heads.0/tsne.3d", "no tsne.3d layout"),
        ("/api/runs/alpha/layers.0.heads.0/magic.2d", "unknown layout magic.2d"),
        ("/api/runs/alpha/layers.0.heads.0/pca.4d", "no API route"),
        ("/api/runs/alpha/nothing", "no API route"),
    ],
)
def test_missing_things_are_404_with_a_clear_message(client: TestClient, url: str, message: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert message in response.json()["detail"]


def test_bad_query_parameters_are_client_errors(client: TestClient) -> None:
    assert client.get("/api/runs/alpha/layers.0.heads.0/tsne.2d?order=random").status_code == 422
    assert client.get("/api/runs/alpha/layers.0.heads.0/tsne.2d?limit=0").status_code == 422


def test_openapi_describes_every_route(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    documented = set(schema["paths"])
    served = {
        re.sub(r":\w+}", "}", route.path)  # type: ignore[attr-defined]
        for route in client.app.routes  # type: ignore[attr-defined]
        if getattr(route, "path", "").startswith("/api") and getattr(route, "include_in_schema", False)
    }
    assert served == documented
    assert len(documented) == len(routes.ROUTES)  # one path per declared route
    layout = schema["paths"]["/api/runs/{run}/layers.{layer}.heads.{head}/{layout}"]["get"]
    assert "application/octet-stream" in layout["responses"]["200"]["content"]
    assert "404" in layout["responses"]


def test_layouts_written_while_serving_appear(tmp_path: Path) -> None:
    make_synthetic_run(tmp_path / "partial", layers=1, heads=2, tokens=30, layouts=(("pca", 2),))
    client = TestClient(create_app([tmp_path / "partial"], static_dir=None))
    assert client.get("/api/runs/partial/layers.0.heads.1/umap.2d").status_code == 404
    add_synthetic_layout(tmp_path / "partial", "umap", 2)
    assert client.get("/api/runs/partial/layouts").json()["umap.2d"] == [0, 1]
    assert client.get("/api/runs/partial/layers.0.heads.1/umap.2d").status_code == 200


def test_runs_with_the_same_folder_name_get_distinct_ids(tmp_path: Path) -> None:
    for parent in ("a", "b"):
        make_synthetic_run(tmp_path / parent / "run", layers=1, heads=1, tokens=20, layouts=(("pca", 2),))
    registry = RunRegistry([tmp_path / "a" / "run", tmp_path / "b" / "run"])
    assert registry.ids() == ["run", "run-2"]


def test_no_frontend_page_says_how_to_build_it(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200 and "npm run build" in response.text


def test_frames_round_trip_every_kind_of_column() -> None:
    f = Frame(meta=TokensMeta(n_tokens=1))
    f.add("ints", np.arange(5, dtype=np.int64))
    f.add("flags", np.array([True, False]))
    f.add_strings("words", ["", "naïve", "日本", "a\nb"])
    f.add_quantized("xy", np.array([[0.0, -1.0], [2.0, 3.0], [1.0, 1.0]], dtype=np.float32))
    data = f.encode()
    header_length = int.from_bytes(data[4:8], "little")
    assert (8 + header_length) % 8 == 0
    meta, arrays = decode(data)
    assert meta == {"n_tokens": 1}
    assert arrays["ints"].dtype == np.uint32 and arrays["ints"].tolist() == [0, 1, 2, 3, 4]
    assert arrays["flags"].tolist() == [1, 0]
    assert arrays["words"] == ["", "naïve", "日本", "a\nb"]
    assert np.allclose(arrays["xy"], [[0, -1], [2, 3], [1, 1]], atol=1e-4)
