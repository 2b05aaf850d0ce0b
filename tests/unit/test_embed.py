"""Joint normalisation, kNN graph, reducers, layout quality, fidelity and head metrics, on arrays."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from attentionviz.embed import fidelity, joint, metrics, quality
from attentionviz.embed.knn import knn_graph
from attentionviz.embed.reducers import REDUCERS, get_reducer
from attentionviz.embed.reducers.pca import pca
from attentionviz.errors import AttentionVizError
from attentionviz.store.manifest import LayerInfo
from attentionviz.store.recompute import attention_from_qk


def clustered(n: int = 600, dim: int = 16, clusters: int = 4, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(clusters, dim))
    return (centres[rng.integers(0, clusters, n)] + rng.normal(size=(n, dim))).astype(np.float32)


def query_keys(n: int = 120, dim: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    q = rng.normal(loc=1.5, size=(n, dim)).astype(np.float32)
    k = rng.normal(loc=-2.0, scale=3.0, size=(n, dim)).astype(np.float32)
    return q, k


@pytest.mark.parametrize(
    "how", [joint.RAW, joint.TRANSLATED, joint.TRANSLATED_SCALED, joint.Normalisation(True, 2.5)]
)
@pytest.mark.parametrize("causal", [False, True])
def test_normalisation_changes_no_attention_weight(how: joint.Normalisation, causal: bool) -> None:
    q, k = query_keys()
    vectors = joint.normalise(q, k, how)
    layer = LayerInfo(scaling=8**-0.5, causal=causal)
    for start, stop in [(0, 10), (10, 40), (40, 120)]:
        before = attention_from_qk(q[start:stop], k[start:stop], layer)
        after = attention_from_qk(vectors.q[start:stop], vectors.k[start:stop], layer)
        np.testing.assert_allclose(after, before, atol=1e-5)


def test_translation_moves_the_key_centroid_onto_the_query_centroid() -> None:
    q, k = query_keys()
    vectors = joint.normalise(q, k, joint.TRANSLATED)
    np.testing.assert_allclose(vectors.k.mean(axis=0), vectors.q.mean(axis=0), atol=1e-4)
    np.testing.assert_array_equal(vectors.q, q)
    assert vectors.record() == {"translate": True, "scale": False, "c": 1.0}


def test_scaling_equalises_mean_norms_and_is_recorded() -> None:
    q, k = query_keys()
    vectors = joint.normalise(q, k, joint.Normalisation(translate=False, scale=True))
    q_norm = np.linalg.norm(vectors.q, axis=1).mean()
    k_norm = np.linalg.norm(vectors.k, axis=1).mean()
    assert q_norm == pytest.approx(k_norm, rel=1e-5)
    assert vectors.record()["c"] == pytest.approx(joint.scale_factor(q, k))
    assert vectors.record()["scale"] is True


@pytest.mark.parametrize(
    ("raw", "translated", "expected"), [(-0.9, -0.8, joint.TRANSLATED), (-0.9, -0.5, joint.RAW)]
)
def test_auto_translates_only_when_fidelity_is_kept(
    raw: float, translated: float, expected: joint.Normalisation
) -> None:
    q, k = query_keys()

    def rho(q_at: np.ndarray, k_at: np.ndarray) -> float:
        return raw if np.array_equal(k_at, k) else translated

    how, reasons = joint.choose(q, k, rho)
    assert how == expected
    assert reasons["rho_raw"] == raw and reasons["rho_translated"] == translated


def test_stacked_rows_are_queries_then_keys() -> None:
    q, k = query_keys(n=5)
    stacked = joint.normalise(q, k, joint.RAW).stacked()
    assert stacked.shape == (10, 8) and stacked.dtype == np.float32
    np.testing.assert_array_equal(stacked[:5], q)
    np.testing.assert_array_equal(stacked[5:], k)


def test_bad_scale_and_shapes_are_refused() -> None:
    q, k = query_keys()
    with pytest.raises(ValueError, match="positive"):
        joint.normalise(q, k, joint.Normalisation(scale=-1.0))
    with pytest.raises(ValueError, match=r"\[N, D\]"):
        joint.normalise(q, k[:-1])


@pytest.mark.parametrize("metric", ["cosine", "euclidean"])
def test_knn_graph_is_exact_and_excludes_the_point_itself(metric: str) -> None:
    x = clustered(n=300)
    graph = knn_graph(x, 10, metric=metric)
    points = x / np.linalg.norm(x, axis=1, keepdims=True) if metric == "cosine" else x
    dist = (
        1 - points @ points.T
        if metric == "cosine"
        else np.linalg.norm(points[:, None] - points[None], axis=2)
    )
    np.fill_diagonal(dist, np.inf)
    expected = np.sort(dist, axis=1)[:, :10]
    assert graph.indices.shape == (300, 10)
    assert not (graph.indices == np.arange(300)[:, None]).any()
    np.testing.assert_allclose(graph.distances, expected, atol=1e-4)
    assert graph.first(5).k == 5


def test_knn_graph_refuses_too_few_points() -> None:
    with pytest.raises(AttentionVizError, match="neighbours"):
        knn_graph(clustered(n=10), 15)


def test_pca_is_deterministic_and_ordered_by_variance() -> None:
    x = clustered()
    first, second = pca(x, 3), pca(x.copy(), 3)
    np.testing.assert_array_equal(first, second)
    assert first.shape == (600, 3) and first.dtype == np.float32
    variances = first.var(axis=0)
    assert variances[0] >= variances[1] >= variances[2]


@pytest.mark.parametrize(
    ("method", "dim"), [("tsne", 2), ("tsne", 3), ("umap", 2), ("umap", 3), ("pca", 2), ("pca", 3)]
)
def test_layouts_have_the_right_shape_no_nan_and_keep_neighbourhoods(method: str, dim: int) -> None:
    x = clustered()
    graph = knn_graph(x, 45, metric="cosine")
    reducer = get_reducer(method)
    coords = reducer.embed(x, dim=dim, knn=graph, seed=0)
    assert coords.shape == (600, dim) and coords.dtype == np.float32
    assert np.isfinite(coords).all()
    threshold = 0.1 if method == "pca" else 0.3  # random: 15 / 600 = 0.025
    assert quality.knn_preservation(graph, coords) > threshold
    assert reducer.params(dim)  # recorded in the layout's metadata


@pytest.mark.parametrize(("method", "dim"), [("tsne", 2), ("tsne", 3), ("umap", 2), ("umap", 3)])
def test_same_seed_gives_the_same_layout(method: str, dim: int) -> None:
    x = clustered(n=400)
    graph = knn_graph(x, 45)
    reducer = REDUCERS[method]
    np.testing.assert_array_equal(
        reducer.embed(x, dim=dim, knn=graph, seed=3), reducer.embed(x, dim=dim, knn=graph, seed=3)
    )


def test_reducers_adapt_to_a_small_head() -> None:
    x = clustered(n=40)
    graph = knn_graph(x, 20)
    for method in ("tsne", "umap"):
        coords = get_reducer(method).embed(x, dim=2, knn=graph, seed=0)
        assert coords.shape == (40, 2) and np.isfinite(coords).all()


def test_unknown_layout_is_a_one_line_error() -> None:
    with pytest.raises(AttentionVizError, match="choose from"):
        get_reducer("mds")


def test_quality_is_perfect_for_the_space_itself_and_low_for_noise() -> None:
    x = clustered(n=300, dim=3)
    graph = knn_graph(x, 15, metric="euclidean")
    assert quality.knn_preservation(graph, x) == pytest.approx(1.0)
    assert quality.trustworthiness(x, x, metric="euclidean") == pytest.approx(1.0)
    noise = np.random.default_rng(1).normal(size=(300, 2))
    assert quality.knn_preservation(graph, noise) < 0.2
    assert quality.trustworthiness(x, noise, metric="euclidean") < 0.8


def brute_force_rho(
    q: np.ndarray,
    k: np.ndarray,
    q_at: np.ndarray,
    k_at: np.ndarray,
    bounds: list[tuple[int, int]],
    causal: bool,
) -> float:
    per_sequence = []
    for start, length in bounds:
        rows = []
        for i in range(length):
            keys = range(i + 1) if causal else range(length)
            if len(keys) < 3:
                continue
            dots = [q[start + i] @ k[start + j] for j in keys]
            dist = [np.linalg.norm(q_at[start + i] - k_at[start + j]) for j in keys]
            rows.append(spearmanr(dots, dist).statistic)
        if rows:
            per_sequence.append(np.mean(rows))
    return float(np.mean(per_sequence))


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("grid", [False, True], ids=["distinct distances", "tied distances"])
def test_fidelity_matches_a_brute_force_spearman(causal: bool, grid: bool) -> None:
    q, k = query_keys(n=60)
    bounds = [(0, 7), (7, 12), (19, 12), (31, 29)]
    starts, lengths = zip(*bounds, strict=True)
    pairs = fidelity.Pairs(q, k, starts, lengths, causal=causal)
    layout = np.random.default_rng(2).normal(size=(120, 2))
    if grid:  # points on a coarse grid: many equal distances, whose ranks are averaged
        layout = np.round(layout)
    expected = brute_force_rho(q, k, layout[:60], layout[60:], bounds, causal)
    assert pairs.rho(layout[:60], layout[60:]) == pytest.approx(expected, abs=1e-9)
    assert pairs.n_sequences == 4


def test_fidelity_is_minus_one_when_distance_follows_the_dot_product() -> None:
    rng = np.random.default_rng(0)
    unit = rng.normal(size=(50, 6))
    unit /= np.linalg.norm(unit, axis=1, keepdims=True)  # cosine distance = 1 - q.k
    pairs = fidelity.Pairs(unit[:25], unit[25:], [0, 10], [10, 15])
    assert pairs.rho(unit[:25], unit[25:], metric="cosine") == pytest.approx(-1.0)


def brute_force_metrics(attention: list[np.ndarray]) -> dict[str, float]:
    entropy, distance, previous, first, sparsity = [], [], [], [], []
    for a in attention:
        a = a.astype(np.float64)
        for i, row in enumerate(a):
            entropy.append(-(row[row > 0] * np.log(row[row > 0])).sum())
            distance.append((row * np.abs(i - np.arange(len(row)))).sum())
            if i >= 1:
                previous.append(row[i - 1])
                first.append(row[0])
            ordered = np.cumsum(np.sort(row)[::-1])
            sparsity.append(int(np.searchsorted(ordered, 0.9 * row.sum() - 1e-7) + 1))
    return {
        "entropy": float(np.mean(entropy)),
        "distance": float(np.mean(distance)),
        "previous": float(np.mean(previous)),
        "first": float(np.mean(first)),
        "sparsity": float(np.mean(sparsity)),
    }


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("block", [metrics.BLOCK_ENTRIES, 50])
def test_head_metrics_match_a_per_sequence_loop(
    causal: bool, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(metrics, "BLOCK_ENTRIES", block)  # 50: every sequence a few rows at a time
    q, k = query_keys(n=60)
    lengths = np.array([7, 12, 12, 29])
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    layer = LayerInfo(scaling=0.3, causal=causal)
    found = metrics.head_metrics(q, k, starts, lengths, layer)
    attention = [
        attention_from_qk(q[s : s + n], k[s : s + n], layer) for s, n in zip(starts, lengths, strict=True)
    ]
    for name, value in brute_force_metrics(attention).items():
        assert found[name] == pytest.approx(value, rel=1e-6), name
    assert found["gap"] == pytest.approx(found["q_norm"] - found["k_norm"])
    if causal:
        assert found["next"] == pytest.approx(0.0, abs=1e-7)


def test_a_previous_token_head_scores_one() -> None:
    lengths = np.array([5, 9])
    width = 9
    positions = np.concatenate([np.arange(n) for n in lengths])
    keys = 50.0 * np.eye(width)[positions]  # key j: a spike at j
    queries = 50.0 * np.eye(width)[np.maximum(positions - 1, 0)]  # query i looks for key i - 1
    layer = LayerInfo(scaling=1.0, causal=True)
    found = metrics.head_metrics(queries, keys, np.array([0, 5]), lengths, layer)
    assert found["previous"] == pytest.approx(1.0)
    assert found["sparsity"] == pytest.approx(1.0)
    assert found["entropy"] == pytest.approx(0.0, abs=1e-6)
    assert found["distance"] == pytest.approx(12 / 14)
