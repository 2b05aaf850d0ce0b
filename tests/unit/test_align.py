"""Procrustes alignment of layouts: what layer scrubbing, side-by-side compare and drift rely on."""

from __future__ import annotations

import numpy as np
import pytest

from attentionviz.analysis.align import procrustes


def _rotation(dim: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    return q


@pytest.mark.parametrize("dim", [2, 3])
def test_a_rotated_reflected_scaled_and_shifted_layout_aligns_back(dim: int) -> None:
    rng = np.random.default_rng(dim)
    layout = rng.normal(size=(500, dim)) * np.arange(1, dim + 1)  # an anisotropic cloud
    reflect = np.eye(dim)
    reflect[0, 0] = -1
    moved = 3.7 * layout @ _rotation(dim, 1) @ reflect + rng.normal(size=dim) * 10
    alignment = procrustes(moved, layout)
    np.testing.assert_allclose(alignment.apply(moved), layout, atol=1e-4)
    assert alignment.residual < 1e-10
    assert np.linalg.det(alignment.rotation) == pytest.approx(-np.linalg.det(_rotation(dim, 1)))


def test_without_reflection_a_mirror_image_cannot_be_undone() -> None:
    layout = np.random.default_rng(0).normal(size=(200, 2)) * [3, 1]
    mirrored = layout * [-1, 1]
    assert procrustes(mirrored, layout).residual < 1e-12
    proper = procrustes(mirrored, layout, reflection=False)
    assert np.linalg.det(proper.rotation) > 0
    assert proper.residual > 0.1


def test_identical_layouts_align_with_the_identity_and_residual_exactly_zero() -> None:
    layout = np.random.default_rng(1).normal(size=(100, 3)).astype(np.float32)
    alignment = procrustes(layout, layout.copy())
    assert alignment.residual == 0.0
    np.testing.assert_array_equal(alignment.apply(layout), layout)


def test_the_residual_is_the_share_of_the_target_no_similarity_explains() -> None:
    rng = np.random.default_rng(2)
    target = rng.normal(size=(2000, 2))
    unrelated = rng.normal(size=(2000, 2))
    assert procrustes(unrelated, target).residual > 0.95  # independent clouds: nearly nothing explained
    noisy = target + 0.1 * rng.normal(size=target.shape)
    assert 0.005 < procrustes(noisy, target).residual < 0.02  # noise variance 0.01 of 1


def test_mismatched_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\[n, d\]"):
        procrustes(np.zeros((3, 2)), np.zeros((4, 2)))
