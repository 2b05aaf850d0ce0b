"""The head atlas's scores on heads whose attention is known exactly: queries and keys built so
that a head attends (almost) only to one chosen key, derived through the store's one function."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import attentionviz as av
from attentionviz.analysis import scores
from attentionviz.analysis.fingerprint import FingerprintSpace, fingerprints
from attentionviz.analysis.headmap import head_map, related
from attentionviz.analysis.pipeline import analyse_run, probes_of
from attentionviz.store import names
from attentionviz.store.atomic import write_npy
from tests.support.synthetic import make_synthetic_run

DIM = 24  # >= the probes' 21 positions: one axis per position
SHARP = 60.0  # logit gap (times the scaling 24 ** -0.5): ~1e-5 of the attention left elsewhere

INDUCTION, DUPLICATE, PREVIOUS = 0, 1, 2


def _targets(position: np.ndarray, length: np.ndarray, kind: int) -> np.ndarray:
    """Each token's one key: for the probes' second copy (R at 1..m, again at m+1..2m) the token
    after the first occurrence (induction) or the occurrence itself (duplicate); else itself.
    PREVIOUS: the token before (itself at position 0)."""
    if kind == PREVIOUS:
        return np.maximum(position - 1, 0)
    m = (length - 2) // 2  # [CLS] R R x [SEP]: 19 content tokens, m = 9
    second = (position >= m + 1) & (position <= 2 * m)
    target = position - m + (1 if kind == INDUCTION else 0)
    return np.where(second, target, position)


def _point_heads(run_dir: Path) -> None:
    """Overwrite layer 0's q and k so head h attends to `_targets(..., h)`."""
    run = av.open(run_dir)
    tokens = run.tokens
    position = tokens["position"].to_numpy()
    length = tokens["seq_len"].to_numpy()
    keys = np.eye(DIM, dtype=np.float32)[position]  # [N, D] one axis per position
    q = np.stack([SHARP * np.eye(DIM, dtype=np.float32)[_targets(position, length, h)] for h in range(3)])
    write_npy(names.array_path(run_dir, names.array_name(0, "q")), q)  # [3, N, D]
    write_npy(names.array_path(run_dir, names.array_name(0, "k")), np.stack([keys] * 3))


@pytest.fixture(scope="module")
def pointed(tmp_path_factory: pytest.TempPathFactory) -> av.Run:
    """A one-layer run (and its probes) whose three heads are an induction, a duplicate-token and
    a previous-token head, by construction."""
    out = tmp_path_factory.mktemp("atlas") / "pointed"
    make_synthetic_run(out, layers=1, heads=3, tokens=300, head_dim=DIM, seq_len=(12, 21), probes=True)
    _point_heads(out)
    _point_heads(out / "probes")
    return av.open(out)


def test_probe_scores_find_the_induction_and_the_duplicate_token_head(pointed: av.Run) -> None:
    probes = probes_of(pointed)
    assert probes is not None and len(scores.probe_layout(probes)) == 4
    found = [scores.probe_scores(probes, 0, h) for h in range(3)]
    assert found[INDUCTION]["induction"] > 0.999 and found[INDUCTION]["duplicate"] < 1e-3
    assert found[DUPLICATE]["duplicate"] > 0.999 and found[DUPLICATE]["induction"] < 1e-3
    assert found[PREVIOUS]["induction"] < 1e-3 and found[PREVIOUS]["duplicate"] < 1e-3


def test_the_profile_puts_a_previous_token_head_at_offset_minus_one(pointed: av.Run) -> None:
    profile = scores.profile(pointed, 0, PREVIOUS)
    assert set(profile) == {f"{d:+d}" if d else "0" for d in range(-16, 17)} | {"first"}
    assert profile["-1"] > 0.999
    assert max(v for k, v in profile.items() if k not in ("-1", "first")) < 1e-3
    # the token at position 1 attends to position 0: the first token, its own column
    starts = pointed.sequences["n_tokens"].to_numpy()
    assert profile["first"] == pytest.approx(1 / (starts - 1).mean(), rel=0.35)


def test_keys_for_ninety_percent() -> None:
    uniform = np.full((10, 10), 0.1)
    assert scores.keys_for_mass(uniform).tolist() == [9] * 10
    peaked = np.eye(4) * 0.95 + 0.05 / 4
    assert scores.keys_for_mass(peaked).tolist() == [1] * 4


def test_the_colouring_and_the_sparsity_metric_agree(tmp_path: Path) -> None:
    run = make_synthetic_run(
        tmp_path / "run", layers=1, heads=2, tokens=150, layouts=(("pca", 2),), metrics=False
    )
    run.embed(layouts=("pca",), dims=(2,), workers=1)
    for head in range(2):
        per_query = scores.keys_needed(run, 0, head)
        assert per_query.shape == (150,) and per_query.min() >= 1
        assert float(per_query.mean()) == pytest.approx(
            av.open(run.path).head(0, head).metrics["sparsity"], rel=1e-6
        )


def test_geometry_is_free_of_the_models_scale() -> None:
    rng = np.random.default_rng(0)
    q, k = rng.normal(size=(50, 8)) + 1.0, rng.normal(size=(50, 8))
    a, b = scores.geometry(q, k), scores.geometry(10 * q, 10 * k)
    assert a == pytest.approx(b)
    assert scores.geometry(q, q)["centroid_gap"] == pytest.approx(0)


def test_the_atlas_stores_every_head_and_run_metrics_gains_the_probe_scores(pointed: av.Run) -> None:
    analyse_run(pointed.path, workers=1)
    table = av.open(pointed.path).metrics
    assert {"induction", "duplicate"} <= set(table.columns)
    assert table.set_index("head").loc[INDUCTION, "induction"] > 0.999
    prints = fingerprints(pointed)
    assert prints.shape[0] == 3 and prints.loc[PREVIOUS, "attn.-1"] > 0.999


def test_fingerprint_distances_are_zero_for_a_copy_and_ignore_a_change_of_scale(tmp_path: Path) -> None:
    one = make_synthetic_run(tmp_path / "one", layers=2, heads=3, tokens=150, seed=4)
    two = make_synthetic_run(tmp_path / "two", layers=2, heads=3, tokens=150, seed=4)
    for run in (one, two):
        analyse_run(run.path, workers=1)
    a, b = fingerprints(one), fingerprints(two)
    d = FingerprintSpace.fit([a, b]).distances(a, b)
    assert np.allclose(np.diag(d), 0, atol=1e-9)
    assert (d.argmin(axis=1) == np.arange(6)).all()
    # the same heads with every query and key 10x longer: only the norms change
    for layer in range(2):
        for kind in ("q", "k"):
            path = names.array_path(two.path, names.array_name(layer, kind))
            write_npy(path, np.load(path) * 10)
    analyse_run(two.path, workers=1, overwrite=True)
    scaled = fingerprints(av.open(two.path))
    geometry = [c for c in a.columns if c.startswith("qk.") and c != "qk.fidelity"]
    assert np.allclose(a[geometry], scaled[geometry], atol=1e-6)


def test_the_head_map_has_one_point_per_head_of_every_run_and_related_heads_exclude_the_head(
    tmp_path: Path, pointed: av.Run
) -> None:
    other = make_synthetic_run(tmp_path / "other", layers=2, heads=4, tokens=150, seed=2)
    analyse_run(other.path, workers=1)
    analyse_run(pointed.path, workers=1)
    both = [av.open(pointed.path), other]
    for method in ("pca", "umap"):
        mapped = head_map(both, method=method)
        assert len(mapped) == 3 + 8
        assert mapped.groupby("run").size().to_dict() == {"pointed": 3, "other": 8}
        assert np.isfinite(mapped[["x", "y"]].to_numpy()).all()
        assert {"induction", "previous", "attn.-1", "qk.centroid_gap"} <= set(mapped.columns)
    near = related(both, 1, layer=1, head=2, k=5)
    assert len(near) == 5
    assert not ((near["run"] == "other") & (near["layer"] == 1) & (near["head"] == 2)).any()
    assert near["distance"].is_monotonic_increasing
    assert av.open(other.path).related(1, 2, k=3, other_runs=[pointed.path])["run"].tolist()[0] in (
        "other",
        "pointed",
    )
