"""A run written when attention was stored per sequence (schema 1): every reader gives a one-line
error naming `attentionviz upgrade RUN`, which converts it in place, safely when interrupted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

import attentionviz as av
from attentionviz.cli import main
from attentionviz.store import upgrade
from attentionviz.store.verify import verify_run
from tests.support.synthetic import write_synthetic_run


@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    return write_synthetic_run(
        tmp_path / "old", layers=2, heads=3, kv_heads=1, tokens=120, layouts=(("pca", 2),), schema=1
    )


def stored_attention(run: Path, layer: int, head: int) -> list[np.ndarray]:
    """What schema 1 stored: every sequence's [len, len] attention, flattened one after another."""
    flat = np.load(run / "capture" / f"layers.{layer}.attention.npy")[head]
    lengths = pd.read_parquet(run / "sequences.parquet")["n_tokens"].to_numpy()
    offsets = np.concatenate([[0], np.cumsum(lengths**2)])
    return [flat[a : a + n * n].reshape(n, n) for a, n in zip(offsets, lengths, strict=False)]


def test_readers_of_an_old_run_name_the_upgrade(old_run: Path) -> None:
    with pytest.raises(
        av.AttentionVizError, match=f"convert it in place with `attentionviz upgrade {old_run}`"
    ):
        av.open(old_run)
    for command in (
        ["info", str(old_run)],
        ["serve", str(old_run), "--no-open"],
        ["export", str(old_run), "-o", str(old_run.parent / "site")],
    ):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 2, result.output
        assert result.output.strip().splitlines() == [
            f"error: run {old_run} was written by an older attentionviz (schema 1, which stored every sequence's "
            f"attention); convert it in place with `attentionviz upgrade {old_run}`"
        ]


def test_upgrade_converts_in_place_and_attention_stays_what_was_stored(old_run: Path) -> None:
    before = {
        (layer, head): stored_attention(old_run, layer, head) for layer in range(2) for head in range(3)
    }
    result = CliRunner().invoke(main, ["upgrade", str(old_run)])
    assert result.exit_code == 0 and result.output.startswith(f"ok: {old_run} upgraded from schema 1 to 2")
    assert not list((old_run / "capture").glob("*.attention.npy"))
    assert "attn_offset" not in pd.read_parquet(old_run / "sequences.parquet")
    assert verify_run(old_run).ok, verify_run(old_run).problems
    run = av.open(old_run)
    lengths = run.sequences["n_tokens"].to_numpy()
    for (layer, head), squares in before.items():
        for seq, stored in enumerate(squares):
            np.testing.assert_allclose(run.head(layer, head).attention(seq), stored, atol=1e-6)
        # the aggregate is the mean of the stored attention over the sequences holding each pair
        i, j = 3, 1
        having = [stored[i, j] for stored in squares if len(stored) > i]
        assert run.aggregate_counts[i, j] == len(having) == int((lengths > i).sum())
        assert run.head(layer, head).aggregate()[i, j] == pytest.approx(np.mean(having), rel=1e-6)
    assert run.head(0, 0).layouts(), "the layouts computed before are kept"
    again = CliRunner().invoke(main, ["upgrade", str(old_run)])
    assert again.exit_code == 0 and "already a schema 2 run; nothing to do" in again.output


def test_an_interrupted_upgrade_leaves_an_old_run_that_upgrades_again(
    old_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    manifest = (old_run / "manifest.json").read_text()
    monkeypatch.setattr(upgrade, "save_manifest", crash)  # after the aggregates are written
    with pytest.raises(KeyboardInterrupt):
        upgrade.upgrade_run(old_run)
    monkeypatch.undo()
    assert (old_run / "manifest.json").read_text() == manifest, "still the old run, whole"
    assert len(list((old_run / "capture").glob("*.attention.npy"))) == 2
    assert "attn_offset" in pd.read_parquet(old_run / "sequences.parquet")
    with pytest.raises(av.AttentionVizError, match="attentionviz upgrade"):
        av.open(old_run)
    problems = verify_run(old_run).problems
    assert len(problems) == 2 and all(
        f"finish it with `attentionviz upgrade {old_run}`" in p for p in problems
    )
    assert upgrade.upgrade_run(old_run).schema_from == 1
    assert verify_run(old_run).ok


def test_what_is_left_after_the_new_manifest_is_cleared_by_upgrading_again(
    old_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(*args: object, **kwargs: object) -> None:
        raise KeyboardInterrupt

    stored = stored_attention(old_run, 1, 2)[0]
    monkeypatch.setattr(upgrade, "_drop_offsets", crash)  # killed right after the new manifest
    with pytest.raises(KeyboardInterrupt):
        upgrade.upgrade_run(old_run)
    monkeypatch.undo()
    np.testing.assert_allclose(
        av.open(old_run).head(1, 2).attention(0), stored, atol=1e-6
    )  # a new run already
    assert any("interrupted upgrade" in p for p in verify_run(old_run).problems)
    report = upgrade.upgrade_run(old_run)
    assert report.removed_bytes > 0 and verify_run(old_run).ok
    assert "attn_offset" not in pd.read_parquet(old_run / "sequences.parquet")
    assert json.loads((old_run / "manifest.json").read_text())["schema_version"] == 2
