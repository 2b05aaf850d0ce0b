"""The run folder's guarantees: atomic files, clear errors, read-only access (no model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import attentionviz as av
from attentionviz.errors import AttentionVizError, RunNotFound
from attentionviz.store import names
from attentionviz.store.atomic import atomic_open, write_json
from attentionviz.store.manifest import LayerInfo
from attentionviz.store.recompute import allowed_mask, attention_from_qk


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path: Path) -> None:
    path = tmp_path / "data.json"
    write_json(path, {"v": 1})
    with pytest.raises(RuntimeError), atomic_open(path, "w") as handle:
        handle.write('{"v": 2, "half')
        raise RuntimeError("killed mid-write")
    assert json.loads(path.read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["data.json"], "no temporary file is left behind"


def test_missing_unfinished_foreign_and_newer_runs_give_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RunNotFound, match="does not exist"):
        av.open(tmp_path / "nothing")
    (tmp_path / "plain").mkdir()
    with pytest.raises(RunNotFound, match="not an attentionviz run"):
        av.open(tmp_path / "plain")
    (tmp_path / "half.partial").mkdir()
    with pytest.raises(RunNotFound, match="not finished"):
        av.open(tmp_path / "half")
    newer = tmp_path / "newer"
    newer.mkdir()
    write_json(newer / names.MANIFEST, {"schema_version": names.SCHEMA_VERSION + 1})
    with pytest.raises(AttentionVizError, match="upgrade"):
        av.open(newer)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / names.MANIFEST).write_text("{not json")
    with pytest.raises(AttentionVizError, match="unreadable"):
        av.open(broken)


def test_masks_follow_the_layer_kind() -> None:
    assert allowed_mask(3, LayerInfo(1.0, causal=False)).all()
    causal = allowed_mask(4, LayerInfo(1.0, causal=True))
    assert causal[2, 2] and not causal[1, 2]
    window = allowed_mask(5, LayerInfo(1.0, causal=True, sliding_window=2))
    assert window[4, 3] and window[4, 4] and not window[4, 2]


def test_recomputed_attention_is_a_softmax_of_scaled_dot_products() -> None:
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(6, 8)), rng.normal(size=(6, 8))
    weights = attention_from_qk(q, k, LayerInfo(0.5, causal=True, softcap=3.0))
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    assert np.all(np.triu(weights, 1) == 0)
    logits = np.tanh(q[3] @ k[:4].T * 0.5 / 3.0) * 3.0
    expected = np.exp(logits) / np.exp(logits).sum()
    np.testing.assert_allclose(weights[3, :4], expected, rtol=1e-5)


def test_run_embed_adds_layouts_after_the_embed_package_is_imported(tmp_path: Path) -> None:
    import attentionviz.embed.pipeline  # noqa: F401 - importing the subpackage must not shadow any public name
    from tests.support.synthetic import make_synthetic_run

    run = make_synthetic_run(tmp_path / "run", layers=1, heads=2, tokens=60, layouts=(), metrics=False)
    assert run.head(0, 1).layouts() == []
    run = run.embed(layouts=("pca",), dims=(2,), workers=1)
    assert run.head(0, 1).layouts() == [("pca", 2)]
    assert run.head(0, 1).layout("pca", 2).shape == (120, 2)
    assert callable(av.build) and callable(av.open)
