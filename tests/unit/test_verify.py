"""`attentionviz verify RUN` finds every kind of damage, one line each, and passes a sound run."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from attentionviz.cli import main
from attentionviz.store.verify import verify_run
from tests.support.synthetic import make_synthetic_run


@pytest.fixture(scope="module")
def sound_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("verify") / "run"
    make_synthetic_run(out, layers=2, heads=2, tokens=60, layouts=(("pca", 2),))
    return out


@pytest.fixture
def run_copy(sound_run: Path, tmp_path: Path) -> Path:
    out = tmp_path / "run"
    shutil.copytree(sound_run, out)
    return out


def truncate(path: Path, keep: int = 200) -> None:
    path.write_bytes(path.read_bytes()[:keep])


def flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))


def edit_manifest(run: Path, change: Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    path = run / "manifest.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def edit_table(path: Path, change: Callable[[pd.DataFrame], pd.DataFrame]) -> None:
    change(pd.read_parquet(path)).to_parquet(path, index=False)


def shift_token_start(frame: pd.DataFrame) -> pd.DataFrame:
    frame.loc[1, "token_start"] += 1
    return frame


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "truncated array": (lambda r: truncate(r / "capture/layers.0.q.npy"), "truncated"),
    "missing array": (lambda r: (r / "capture/layers.1.k.npy").unlink(), "missing"),
    "array not npy": (lambda r: (r / "capture/layers.0.k.npy").write_bytes(b"hello"), "not a readable .npy"),
    "changed array": (lambda r: flip_last_byte(r / "capture/layers.1.aggregate.npy"), "checksum mismatch"),
    "array of another shape": (
        lambda r: np.save(r / "capture/layers.0.v_norm.npy", np.zeros((2, 59), np.float32)),
        "shape",
    ),
    "array missing from manifest": (
        lambda r: edit_manifest(r, lambda d: d["arrays"].pop("layers.1.q")),
        "lists no array layers.1.q",
    ),
    "newer schema": (lambda r: edit_manifest(r, lambda d: d.update(schema_version=99)), "newer"),
    "manifest not json": (lambda r: (r / "manifest.json").write_text("{"), "unreadable"),
    "no manifest": (lambda r: (r / "manifest.json").unlink(), "not an attentionviz run"),
    "token table missing": (lambda r: (r / "tokens.parquet").unlink(), "tokens.parquet: missing"),
    "token table truncated": (lambda r: truncate(r / "tokens.parquet"), "unreadable"),
    "token table lost a column": (
        lambda r: edit_table(r / "tokens.parquet", lambda f: f.drop(columns=["window"])),
        "missing columns window",
    ),
    "token table lost rows": (lambda r: edit_table(r / "tokens.parquet", lambda f: f.iloc[:-3]), "57 rows"),
    "token_start inconsistent": (
        lambda r: edit_table(r / "sequences.parquet", shift_token_start),
        "token_start",
    ),
    "layout with NaN": (
        lambda r: np.save(r / "heads/layers.0.heads.1/pca.2d.npy", np.full((120, 2), np.nan, np.float32)),
        "NaN",
    ),
    "layout of the wrong size": (
        lambda r: np.save(r / "heads/layers.1.heads.0/pca.2d.npy", np.zeros((60, 2), np.float32)),
        "expected [120, 2]",
    ),
    "head out of range": (
        lambda r: (r / "heads/layers.5.heads.0").mkdir(),
        "no such head",
    ),
}


def test_a_sound_run_is_ok(sound_run: Path) -> None:
    result = CliRunner().invoke(main, ["verify", str(sound_run)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ok: ") and "8 arrays (checksums verified), 4 layouts" in result.output


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damage_is_named_on_one_line(case: str, run_copy: Path) -> None:
    damage, expected = DAMAGE[case]
    damage(run_copy)
    result = CliRunner().invoke(main, ["verify", str(run_copy)])
    assert result.exit_code == 2, result.output
    lines = result.output.splitlines()
    assert lines and all(line.startswith("error: ") for line in lines), result.output
    assert any(expected in line for line in lines), result.output
    assert "Traceback" not in result.output


def test_quick_skips_checksums_but_not_sizes(run_copy: Path) -> None:
    flip_last_byte(run_copy / "capture/layers.0.q.npy")
    assert verify_run(run_copy, quick=True).ok
    assert not verify_run(run_copy).ok
    truncate(run_copy / "capture/layers.0.k.npy")
    assert any("truncated" in p for p in verify_run(run_copy, quick=True).problems)


def test_every_problem_gets_its_own_line(run_copy: Path) -> None:
    (run_copy / "capture/layers.0.q.npy").unlink()
    truncate(run_copy / "capture/layers.1.q.npy")
    report = verify_run(run_copy)
    assert len(report.problems) == 2
    assert {"missing" in report.problems[0], "truncated" in report.problems[1]} == {True}


def test_an_unfinished_build_is_reported(tmp_path: Path) -> None:
    (tmp_path / "run.partial").mkdir()
    result = CliRunner().invoke(main, ["verify", str(tmp_path / "run")])
    assert result.exit_code == 2 and "not finished" in result.output


def _add_array(run: Path, name: str, array: np.ndarray) -> None:
    """Put an array in the run and in its manifest, as a build that wrote it would."""
    from attentionviz.hashing import sha256_file

    path = run / "capture" / f"{name}.npy"
    np.save(path, array)
    edit_manifest(
        run,
        lambda d: d["arrays"].update(
            {name: {"shape": list(array.shape), "dtype": "float32", "sha256": sha256_file(path)}}
        ),
    )


def test_an_array_that_grows_with_the_square_of_a_sequence_is_refused(run_copy: Path) -> None:
    lengths = pd.read_parquet(run_copy / "sequences.parquet")["n_tokens"].to_numpy()
    squares = int((lengths.astype(np.int64) ** 2).sum())
    _add_array(run_copy, "layers.0.attention", np.zeros((2, squares), np.float32))
    _add_array(run_copy, "layers.1.pairs", np.zeros((2, squares), np.float32))  # under any name
    result = CliRunner().invoke(main, ["verify", str(run_copy)])
    assert result.exit_code == 2
    refused = [line for line in result.output.splitlines() if "grows with the square" in line]
    assert len(refused) == 2, result.output


def test_attention_left_over_by_an_interrupted_upgrade_is_named(run_copy: Path) -> None:
    np.save(run_copy / "capture" / "layers.0.attention.npy", np.zeros((2, 10), np.float32))
    result = CliRunner().invoke(main, ["verify", str(run_copy)])
    assert result.exit_code == 2 and f"attentionviz upgrade {run_copy}" in result.output


def test_an_old_run_with_stored_attention_is_checked_and_pointed_to_upgrade(tmp_path: Path) -> None:
    """Schema 1 stored attention: verify knows how to read it, checks it, and names the upgrade."""
    from tests.support.synthetic import write_synthetic_run

    old = write_synthetic_run(tmp_path / "old", layers=2, heads=2, tokens=60, layouts=(), schema=1)
    result = CliRunner().invoke(main, ["verify", str(old)])
    assert result.exit_code == 0, result.output
    assert "8 arrays" in result.output and f"`attentionviz upgrade {old}` converts it" in result.output
    flip_last_byte(old / "capture" / "layers.1.attention.npy")
    assert "checksum mismatch" in CliRunner().invoke(main, ["verify", str(old)]).output


def test_half_precision_arrays_must_be_stored_as_the_manifest_says(run_copy: Path) -> None:
    """A bfloat16 run stores q and k as 2-byte bit patterns; float32 files under that name are wrong."""
    edit_manifest(run_copy, lambda d: d["model"].update(dtype="bfloat16"))
    result = CliRunner().invoke(main, ["verify", str(run_copy), "--quick"])
    assert result.exit_code == 2
    assert "the manifest says float32 but a run of this model stores bfloat16" in result.output
