"""Comparing two builds of a tiny GPT-2, one of whose heads was edited: compare finds that head, and
only it, changed; a run against itself or a rebuild of it has zero drift; the CLI prints it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import attentionviz as av
from tests.support.tiny_models import TEXT_MODELS

pytestmark = pytest.mark.slow

LAYER, HEAD = 1, 2


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, minilm: Any, text_file: Path) -> tuple[Path, Path, Path]:
    """(a build of a tiny GPT-2, a build of it with layer 1 head 2's queries scaled by 100, a BERT run)."""
    import torch

    folder = tmp_path_factory.mktemp("compare")
    settings = {
        "tokenizer": minilm.tokenizer,
        "max_tokens": 300,
        "layouts": ("pca",),
        "dims": (2,),
        "workers": 1,
    }
    model = TEXT_MODELS["gpt2"]()
    av.build(model, text_file, out=folder / "before", **settings)
    d = model.config.n_embd // model.config.n_head
    with torch.no_grad():  # c_attn: [n_embd, 3 * n_embd], the first n_embd columns are the queries
        model.h[LAYER].attn.c_attn.weight[:, HEAD * d : (HEAD + 1) * d] *= (
            100  # its random logits were near 0: now it picks keys
        )
    av.build(model, text_file, out=folder / "edited", **settings)
    av.build(TEXT_MODELS["bert"](), text_file, out=folder / "bert", **settings)
    return folder / "before", folder / "edited", folder / "bert"


def test_compare_finds_the_edited_head_and_nothing_else(runs: tuple[Path, Path, Path]) -> None:
    before, edited, _ = runs
    table = av.compare(before, edited).set_index(["layer", "head"])
    assert table["drift"].idxmax() == (LAYER, HEAD)
    assert table.loc[(LAYER, HEAD), "attention"] > 0.05, "sharper queries change where the head attends"
    others = table.drop(index=(LAYER, HEAD))
    assert (others["drift"] == 0.0).all(), "an edit of one head of the last layer changes no other head"
    assert table.attrs["layout"] == "pca.2d"


def test_a_run_against_itself_or_a_rebuild_has_zero_drift(
    runs: tuple[Path, Path, Path], minilm: Any, text_file: Path, tmp_path: Path
) -> None:
    before, _, _ = runs
    assert (av.compare(before, before)[["drift", "attention", "layout"]] == 0.0).all().all()
    rebuilt = av.build(
        TEXT_MODELS["gpt2"](),
        text_file,
        out=tmp_path / "again",
        tokenizer=minilm.tokenizer,
        max_tokens=300,
        layouts=("pca",),
        dims=(2,),
        workers=1,
    )
    assert (av.compare(before, rebuilt)["drift"] == 0.0).all()


def test_the_cli_prints_the_most_changed_heads_first_and_other_architectures_best_matched_first(
    runs: tuple[Path, Path, Path],
) -> None:
    before, edited, bert = runs
    cli = [sys.executable, "-m", "attentionviz", "compare"]
    done = subprocess.run(
        [*cli, str(before), str(edited), "--top", "3", "--quiet"], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["layer", "head"])
    assert lines[header + 1].split()[:2] == [str(LAYER), str(HEAD)]
    assert len(lines) == header + 4, "--top 3 lists three heads"
    matched = subprocess.run(
        [*cli, str(before), str(bert), "--top", "0", "--matches", "2", "--quiet"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert matched.returncode == 0, matched.stderr
    lines = matched.stdout.splitlines()
    assert any("different architectures" in line for line in lines)
    header = next(i for i, line in enumerate(lines) if line.split()[:2] == ["layer", "head"])
    table = av.compare(before, bert, matches=2)
    assert len(lines) == header + 1 + len(table), "--top 0 lists every head of A"
    best = [float(line.split()[3].rstrip("*")) for line in lines[header + 1 :]]  # nearest's distance
    assert best == sorted(best) and best[0] == round(table["distance"].min(), 3)
