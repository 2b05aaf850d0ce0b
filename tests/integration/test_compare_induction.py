"""Comparing checkpoints against ground truth: the two-layer attention-only toy saved just before
and just after it learns to copy (`tests/support/induction_checkpoints.py`), each built into a
training series with `attentionviz.build_step` as a custom training loop would.

Between the two, the model forms its copying circuit: previous-token heads in layer 0 and
induction heads in layer 1. Which heads those are, and how many, differs from machine to machine,
so the test finds them from the trained model's own attention and asserts that compare ranks them
as the most changed heads; the same checkpoint over another corpus is matched head for head."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import attentionviz as av
from tests.support.induction_checkpoints import checkpoint_info, induction_checkpoints, roles

pytestmark = pytest.mark.slow

SETTINGS: dict[str, Any] = {"max_tokens": 2000}


def _build(folder: Path, out: Path, step: int, corpus: list[str]) -> Path:
    from transformers import AutoModelForCausalLM

    from attentionviz.toys.induction import tokenizer

    model = AutoModelForCausalLM.from_pretrained(folder)
    return Path(av.build_step(model, corpus, out=out, step=step, tokenizer=tokenizer(), **SETTINGS).path)


def _after_over(checkpoints: Path, out: Path, seed: int) -> Path:
    """The checkpoint after the drop built again over 40 sequences `<bos> R R` drawn with `seed`
    (1: the series' own corpus)."""
    from attentionviz.toys import repeated_segments_text

    corpus = repeated_segments_text(40, seed=seed)
    return _build(checkpoints / "after", out, checkpoint_info(checkpoints)["after"], corpus)


@pytest.fixture(scope="module")
def checkpoints() -> Path:
    return induction_checkpoints()


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory, checkpoints: Path) -> tuple[Path, Path]:
    """(the run before, the run after) in one training series, over 40 held-out sequences `<bos> R R`."""
    from attentionviz.toys import repeated_segments_text

    out = tmp_path_factory.mktemp("induction") / "series"
    info = checkpoint_info(checkpoints)
    corpus = repeated_segments_text(40)
    return (
        _build(checkpoints / "before", out, info["before"], corpus),
        _build(checkpoints / "after", out, info["after"], corpus),
    )


def test_the_two_checkpoints_straddle_learning_to_copy(checkpoints: Path) -> None:
    """What the comparison relies on: the first model does not copy, the second does."""
    import torch
    from transformers import AutoModelForCausalLM

    from attentionviz.toys.induction import RECIPE, _batch, copy_accuracy

    ids, labels = _batch(np.random.default_rng(4242), RECIPE, 128)
    with torch.no_grad():
        before = copy_accuracy(
            AutoModelForCausalLM.from_pretrained(checkpoints / "before").eval(), ids, labels
        )
        after = copy_accuracy(AutoModelForCausalLM.from_pretrained(checkpoints / "after").eval(), ids, labels)
    assert before < 0.2 and after >= 0.9, (before, after)
    losses = {int(step): loss for step, loss in checkpoint_info(checkpoints)["loss_on_repeated_half"].items()}
    info = checkpoint_info(checkpoints)
    assert losses[info["after"]] < 0.25 * losses[info["before"]], losses  # a sharp drop between them


def test_compare_ranks_the_heads_that_learned_to_copy_as_the_most_changed(series: tuple[Path, Path]) -> None:
    before, after = series
    learned = roles(av.open(after))
    assert not roles(av.open(before)), "before the drop no head attends to the previous token or the copy"
    assert "previous" in learned.values() and "induction" in learned.values(), learned
    assert {layer for (layer, _), role in learned.items() if role == "previous"} == {0}
    assert {layer for (layer, _), role in learned.items() if role == "induction"} == {1}

    table = av.compare(before, after)
    assert table.attrs["kind"] == "drift"
    ranked = [(int(r.layer), int(r.head)) for r in table.sort_values("drift", ascending=False).itertuples()]
    assert set(ranked[: len(learned)]) == set(learned), (ranked, learned)
    assert (table[["attention", "fingerprint", "layout"]] > 0).all().all(), "every part sees the change"

    cli = subprocess.run(
        [sys.executable, "-m", "attentionviz", "compare", str(before), str(after), "--top", "2", "--quiet"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows = [line.split() for line in cli.stdout.splitlines()[-2:]]
    assert [(int(r[0]), int(r[1])) for r in rows] == ranked[:2]


def test_a_rebuild_of_a_checkpoint_has_zero_drift_in_every_part(
    series: tuple[Path, Path], checkpoints: Path, tmp_path: Path
) -> None:
    _, after = series
    table = av.compare(after, _after_over(checkpoints, tmp_path / "again", seed=1))
    assert (table[["drift", "attention", "fingerprint", "layout"]] == 0.0).all().all()


def test_the_same_model_over_another_corpus_matches_each_working_head_to_one_doing_the_same_job(
    series: tuple[Path, Path], checkpoints: Path, tmp_path: Path
) -> None:
    _, after = series
    other = _after_over(checkpoints, tmp_path / "other", seed=5)
    table = av.compare(after, other, matches=2)
    assert table.attrs["kind"] == "match" and "share no sequence" in table.attrs["why"]
    mine, theirs = roles(av.open(after)), roles(av.open(other))
    for row in table.itertuples():
        if (row.layer, row.head) in mine:
            assert theirs.get((row.match_layer, row.match_head)) == mine[(row.layer, row.head)], row
