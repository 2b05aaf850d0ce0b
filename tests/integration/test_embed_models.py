"""Embedding real captured heads: MiniLM (BERT) on Wikipedia sentences, SmolLM2 (Llama, GQA)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

import attentionviz as av
from attentionviz.embed import fidelity, joint
from attentionviz.embed.pipeline import embed_run
from attentionviz.store.recompute import attention_from_qk

pytestmark = pytest.mark.slow

KNN_THRESHOLD = {"tsne": 0.3, "umap": 0.2, "pca": 0.03}  # kNN preservation at k=15; random is 15 / 2N


@pytest.fixture(scope="module")
def minilm_run(tmp_path_factory: pytest.TempPathFactory, minilm: Any) -> av.Run:
    """About 600 tokens of Wikipedia through MiniLM, two layers' heads 0-1 embedded (all default layouts)."""
    path = tmp_path_factory.mktemp("embed") / "minilm"
    run = av.build(
        minilm.model, "wikipedia", tokenizer=minilm.tokenizer, out=path, max_tokens=600, layouts=()
    )
    embed_run(run.path, heads=[(0, 0), (0, 1), (3, 0), (3, 1)], workers=1)
    return av.open(run.path)


@pytest.fixture(scope="module")
def smollm2_run(tmp_path_factory: pytest.TempPathFactory, smollm2: Any, sentences: list[str]) -> av.Run:
    path = tmp_path_factory.mktemp("embed") / "smollm2"
    return av.build(
        smollm2.model, sentences[:4], tokenizer=smollm2.tokenizer, out=path, max_tokens=None, layouts=()
    )


def assert_normalisation_keeps_attention(run: av.Run, heads: list[tuple[int, int]]) -> None:
    for layer, index in heads:
        head = run.head(layer, index)
        layer_info = run.manifest.layers[layer]
        for how in (
            joint.TRANSLATED,
            joint.TRANSLATED_SCALED,
            joint.Normalisation(translate=True, scale=4.0),
        ):
            vectors = joint.normalise(head.queries(), head.keys(), how)
            for seq in range(run.info.n_sequences):
                start, length = run.sequence_bounds(seq)
                window = slice(start, start + length)
                before = attention_from_qk(head.queries()[window], head.keys()[window], layer_info)
                after = attention_from_qk(vectors.q[window], vectors.k[window], layer_info)
                np.testing.assert_allclose(
                    after, before, atol=1e-5, err_msg=f"L{layer}H{index} seq {seq} {how}"
                )


def test_normalisation_changes_no_attention_weight_on_minilm(minilm_run: av.Run) -> None:
    assert_normalisation_keeps_attention(minilm_run, [(0, 0), (3, 5), (5, 11)])


def test_normalisation_changes_no_attention_weight_on_a_grouped_query_head(smollm2_run: av.Run) -> None:
    info = smollm2_run.info
    assert info.kv_heads < info.heads
    heads = [(0, 0), (0, info.heads - 1), (info.layers - 1, 4)]
    assert smollm2_run.head(*heads[0]).kv_head != smollm2_run.head(*heads[1]).kv_head
    assert_normalisation_keeps_attention(smollm2_run, heads)


def test_default_layouts_of_real_heads(minilm_run: av.Run) -> None:
    n = minilm_run.info.n_tokens
    for layer, index in [(0, 0), (0, 1), (3, 0), (3, 1)]:
        head = minilm_run.head(layer, index)
        assert sorted(head.layouts()) == [("pca", 2), ("pca", 3), ("tsne", 2), ("umap", 2), ("umap", 3)]
        for method, dim in head.layouts():
            coords = head.layout(method, dim)
            assert coords.shape == (2 * n, dim) and np.isfinite(coords).all()
            kept = head.fidelity["quality"][f"{method}.{dim}d"]["knn_preservation"]
            assert kept > KNN_THRESHOLD[method], f"L{layer}H{index} {method} {dim}D keeps only {kept:.3f}"
        assert head.metrics["sparsity"] >= 1.0
        assert head.metrics["entropy"] > 0.0


def test_same_seed_gives_the_same_layout_on_a_real_head(minilm_run: av.Run, tmp_path: Path) -> None:
    copy = tmp_path / "copy"
    import shutil

    shutil.copytree(minilm_run.path, copy)
    shutil.rmtree(copy / "heads")
    embed_run(copy, layouts=("tsne", "umap"), dims=(2,), heads=[(3, 1)], workers=1)
    for method in ("tsne", "umap"):
        np.testing.assert_array_equal(
            av.open(copy).head(3, 1).layout(method, 2), minilm_run.head(3, 1).layout(method, 2)
        )


def test_mean_fidelity_on_minilm_is_negative(minilm_run: av.Run) -> None:
    sequences = minilm_run.sequences
    rhos = {"raw": [], "translated": []}
    for head in minilm_run.heads():
        pairs = fidelity.Pairs(
            np.asarray(head.queries()),
            np.asarray(head.keys()),
            sequences["token_start"],
            sequences["n_tokens"],
        )
        for how in (joint.RAW, joint.TRANSLATED):
            vectors = joint.normalise(head.queries(), head.keys(), how)
            rhos[how.describe()].append(pairs.rho(vectors.q, vectors.k, metric="cosine"))
    assert np.mean(rhos["raw"]) < -0.5
    assert np.mean(rhos["translated"]) < -0.5
    for layer, index in [(0, 0), (3, 1)]:
        layouts = minilm_run.head(layer, index).fidelity["layouts"]
        assert np.mean(list(layouts.values())) < 0


def test_info_prints_the_fidelity_summary(minilm_run: av.Run) -> None:
    from attentionviz.info import describe

    text = describe(minilm_run)
    assert "tsne 2D" in text and "translated vectors" in text
