"""Token-level routes on a synthetic run: a sequence's attention, the head's aggregate, value norms, images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from attentionviz.hosts.server import create_app
from attentionviz.readmodel.frames import decode
from attentionviz.store.reader import Run
from tests.support.frames import frame as get_frame
from tests.support.synthetic import make_synthetic_run


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    folder = tmp_path_factory.mktemp("runs")
    return make_synthetic_run(folder / "alpha", layers=2, heads=2, tokens=90, layouts=(("pca", 2),), seed=3)


@pytest.fixture(scope="module")
def client(run: Run) -> TestClient:
    return TestClient(create_app([run.path], static_dir=None))


def test_sequence_attention_is_the_stored_attention_exactly(client: TestClient, run: Run) -> None:
    for seq in (0, run.info.n_sequences - 1):
        meta, arrays = get_frame(client, f"/api/runs/alpha/layers.1.heads.0/attention/{seq}")
        expected = run.head(1, 0).attention(seq)
        assert arrays["attention"].dtype == np.float32
        np.testing.assert_array_equal(arrays["attention"], expected)
        start, length = run.sequence_bounds(seq)
        assert (meta["token_start"], meta["n_tokens"]) == (start, length)


def test_quantized_sequence_attention_is_within_its_bound_at_half_the_bytes(run: Run) -> None:
    from attentionviz.readmodel.attention import QUANTIZED_ATTENTION_ERROR, sequence_attention_frame

    head = run.head(1, 0)
    seq = int(run.sequences["n_tokens"].to_numpy().argmax())  # the longest: the header counts least
    exact = sequence_attention_frame(head, seq)
    small = sequence_attention_frame(head, seq, quantized=True)
    meta, arrays = decode(small)
    expected = head.attention(seq)
    assert meta["n_tokens"] == len(expected)
    values = arrays["attention"].reshape(expected.shape)  # [len * len, 1] -> [len, len]
    assert np.abs(values - expected).max() <= QUANTIZED_ATTENTION_ERROR + 1e-7
    assert QUANTIZED_ATTENTION_ERROR < 1e-5
    weights = expected.size
    assert len(exact) - len(small) >= 2 * weights - 64, "two bytes a weight instead of four"


def test_aggregate_averages_each_position_pair_over_sequences_that_have_it(
    client: TestClient, run: Run
) -> None:
    meta, arrays = get_frame(client, "/api/runs/alpha/layers.0.heads.1/aggregate")
    head = run.head(0, 1)
    lengths = run.sequences["n_tokens"].to_numpy()
    assert meta["max_len"] == lengths.max()
    i, j = 1, 0
    having = [seq for seq, n in enumerate(lengths) if n > max(i, j)]
    expected = np.mean([head.attention(seq)[i, j] for seq in having])
    assert arrays["count"][i, j] == len(having)
    np.testing.assert_allclose(arrays["attention"][i, j], expected, rtol=1e-5)
    last = lengths.max() - 1
    assert arrays["count"][last, last] == np.sum(lengths == lengths.max())
    # rows over the positions every sequence shares are still distributions for causal-free heads
    assert np.all(arrays["attention"] >= 0)


def test_value_norms_are_the_sequence_slice(client: TestClient, run: Run) -> None:
    start, length = run.sequence_bounds(2)
    expected = run.head(1, 1).value_norms()[start : start + length]
    _, arrays = get_frame(client, "/api/runs/alpha/layers.1.heads.1/value-norms/2")
    np.testing.assert_allclose(arrays["value_norms"], expected)
    _, arrays = get_frame(client, "/api/runs/alpha/layers.1.heads.1/attention/2")  # beside the attention too
    np.testing.assert_allclose(arrays["value_norms"], expected)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("/api/runs/alpha/layers.0.heads.0/attention/9999", "sequence 9999 is out of range"),
        ("/api/runs/alpha/layers.0.heads.7/attention/0", "head 7 is out of range"),
        ("/api/runs/alpha/layers.0.heads.0/value-norms/9999", "sequence 9999 is out of range"),
        ("/api/runs/alpha/layers.5.heads.0/aggregate", "layer 5 is out of range"),
        ("/api/runs/alpha/images/0.png", "only image runs have images"),
    ],
)
def test_missing_things_are_404(client: TestClient, url: str, message: str) -> None:
    response = client.get(url)
    assert response.status_code == 404
    assert message in response.json()["detail"]


def test_routes_are_in_the_openapi_schema(client: TestClient) -> None:
    paths = set(client.get("/openapi.json").json()["paths"])
    base = "/api/runs/{run}/layers.{layer}.heads.{head}"
    assert {
        f"{base}/attention/{{seq}}",
        f"{base}/aggregate",
        f"{base}/value-norms/{{seq}}",
        "/api/runs/{run}/images/{seq}.png",
    } <= paths


def test_image_runs_serve_their_pngs(tmp_path: Path, run: Run) -> None:
    import shutil

    from PIL import Image

    image_run = tmp_path / "pictures"
    shutil.copytree(run.path, image_run)
    manifest = (image_run / "manifest.json").read_text()
    (image_run / "manifest.json").write_text(manifest.replace('"image_grid": null', '"image_grid": [2, 2]'))
    (image_run / "images").mkdir()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(image_run / "images" / "0.png")
    client = TestClient(create_app([image_run], static_dir=None))
    response = client.get("/api/runs/pictures/images/0.png")
    assert response.status_code == 200 and response.headers["content-type"] == "image/png"
    assert response.content == (image_run / "images" / "0.png").read_bytes()
    missing = client.get("/api/runs/pictures/images/1.png")
    assert missing.status_code == 404 and "rebuild the run" in missing.json()["detail"]


def test_a_window_of_query_rows_is_those_rows_of_the_whole(client: TestClient, run: Run) -> None:
    seq = int(run.sequences["n_tokens"].to_numpy().argmax())
    whole = run.head(0, 1).attention(seq)
    n = len(whole)
    meta, arrays = get_frame(client, f"/api/runs/alpha/layers.0.heads.1/attention/{seq}?start=3&limit=4")
    assert (meta["row_start"], meta["n_rows"], meta["n_tokens"]) == (3, 4, n)
    np.testing.assert_array_equal(arrays["attention"].reshape(4, n), whole[3:7])
    meta, arrays = get_frame(
        client, f"/api/runs/alpha/layers.0.heads.1/attention/{seq}?start={n - 2}&limit=50"
    )
    assert (meta["row_start"], meta["n_rows"]) == (n - 2, 2), "a window past the end is cut to the sequence"
    np.testing.assert_array_equal(arrays["attention"].reshape(2, n), whole[n - 2 :])
    meta, _ = get_frame(client, f"/api/runs/alpha/layers.0.heads.1/attention/{seq}")
    assert (meta["row_start"], meta["n_rows"]) == (0, n)
    assert client.get(f"/api/runs/alpha/layers.0.heads.1/attention/{seq}?limit=0").status_code == 422
