"""The attention edits the views apply (hiding keys, value-norm weighting, the aggregate's crop),
run as the shipped TypeScript in Chromium on real MiniLM attention, against a numpy reference."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attentionviz.store.reader import Run

pytestmark = pytest.mark.browser


def call(app: Any, function: str, *args: Any) -> np.ndarray:
    """window.__attentionviz.math[function](...) with typed arrays; the result as float64."""
    script = """([name, args]) => {
        const math = window.__attentionviz.math;
        const convert = (a) => a && a.matrix ? new Float32Array(a.matrix)
            : a && a.set ? new Set(a.set) : a;
        return Array.from(math[name](...args.map(convert)));
    }"""
    return np.asarray(app.page.evaluate(script, [function, list(args)]), dtype=np.float64)


def matrix(values: np.ndarray) -> dict[str, list[float]]:
    return {"matrix": np.asarray(values, dtype=np.float32).reshape(-1).tolist()}


@pytest.fixture
def sample(minilm_run: Path) -> tuple[np.ndarray, np.ndarray]:
    run = Run(minilm_run)
    head = run.head(2, 5)
    start, length, _ = run.sequence_bounds(1)
    return head.attention(1).astype(np.float64), head.value_norms()[start : start + length].astype(np.float64)


def test_hiding_keys_renormalises_each_row_over_the_rest(
    app: Any, sample: tuple[np.ndarray, np.ndarray]
) -> None:
    app.open("run=minilm")
    a, _ = sample
    n = len(a)
    hidden = [0, n - 1, 3]
    got = call(app, "hideKeys", matrix(a), n, {"set": hidden}).reshape(n, n)
    expected = a / (1 - a[:, hidden].sum(axis=1, keepdims=True))
    expected[:, hidden] = 0
    np.testing.assert_allclose(got, expected, atol=1e-5)
    np.testing.assert_allclose(got.sum(axis=1), 1, atol=1e-5)


def test_value_norm_weighting_matches_the_formula(app: Any, sample: tuple[np.ndarray, np.ndarray]) -> None:
    app.open("run=minilm")
    a, v = sample
    n = len(a)
    got = call(app, "weightByValueNorms", matrix(a), n, v.tolist()).reshape(n, n)
    expected = a * v / (a * v).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(got, expected, atol=1e-5)
    both = call(app, "editAttention", matrix(a), n, {"hidden": None, "valueNorms": v.tolist()})
    np.testing.assert_allclose(both.reshape(n, n), expected, atol=1e-5)


def test_aggregate_crop_is_row_normalised(app: Any) -> None:
    app.open("run=minilm")
    rng = np.random.default_rng(0)
    a = rng.random((9, 9))
    got = call(app, "cropAndNormalise", matrix(a), 9, 5).reshape(5, 5)
    np.testing.assert_allclose(got, a[:5, :5] / a[:5, :5].sum(axis=1, keepdims=True), atol=1e-5)
    top = call(app, "topKeys", matrix(a), 9, 2, 3, 0.0)
    assert top.tolist() == list(np.argsort(-a[2])[:3])
