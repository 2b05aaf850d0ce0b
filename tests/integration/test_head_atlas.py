"""The head atlas against ground truth: a two-layer attention-only model trained here to copy
(its previous-token and induction heads found by the metrics, the induction head the one whose
ablation hurts most), and the two offline models' previous-token heads side by side on the map.

Everything is asserted on what the trained model itself does (its accuracy, its attention, its
loss), never on the weights one machine's training reaches."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import attentionviz as av
from attentionviz.analysis.fingerprint import FingerprintSpace, fingerprints

pytestmark = pytest.mark.slow


EARLY_STEP = 100  # a checkpoint kept here, long before the model copies (after ~500 steps)


@pytest.fixture(scope="session")
def toy_training(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, list[float]]:
    """The two-layer attention-only model, trained once per session (a minute or two), as someone
    who wants checkpoints trains it: (the model's folder, a checkpoint saved by the per-step hook at
    EARLY_STEP, every step's training loss)."""
    from attentionviz.toys import save, train
    from attentionviz.toys.induction import RECIPE

    root = tmp_path_factory.mktemp("toy")
    early = root / f"step-{EARLY_STEP}"
    losses: list[float] = []

    def keep(step: int, model: Any, loss: float) -> None:
        losses.append(loss)
        if step == EARLY_STEP:
            save(model, early)

    train(root / "model", RECIPE, on_step=keep)
    return root / "model", early, losses


@pytest.fixture(scope="session")
def induction_toy(toy_training: tuple[Path, Path, list[float]]) -> Path:
    return toy_training[0]


@pytest.fixture(scope="session")
def toy_run(tmp_path_factory: pytest.TempPathFactory, induction_toy: Path) -> Path:
    """`attentionviz build` on the toy model, as a user runs it, with head importance."""
    from attentionviz.toys import repeated_segments_text

    folder = tmp_path_factory.mktemp("toy-run")
    corpus = folder / "segments.txt"
    corpus.write_text("\n".join(repeated_segments_text(24)) + "\n", encoding="utf-8")
    out = folder / "toy"
    command = [sys.executable, "-m", "attentionviz", "build", str(induction_toy), str(corpus), "-o", str(out)]
    options = [
        "--split",
        "line",
        "--layouts",
        "pca",
        "--dims",
        "2",
        "--importance",
        "--workers",
        "1",
        "--quiet",
    ]
    done = subprocess.run(command + options, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return out


def test_the_toy_model_learned_to_copy_and_is_cached_as_trained(induction_toy: Path, tmp_path: Path) -> None:
    import shutil

    from attentionviz.toys import induction_model, training_report
    from attentionviz.toys.induction import RECIPE

    report = training_report(induction_toy)
    assert report["accuracy"] >= 0.9, report  # next-token accuracy on held-out second copies
    shutil.copytree(induction_toy, tmp_path / RECIPE.folder_name)
    assert induction_model(tmp_path) == tmp_path / RECIPE.folder_name  # a cached model is not retrained


def test_a_checkpoint_kept_by_the_per_step_hook_is_the_model_before_it_copied(
    toy_training: tuple[Path, Path, list[float]],
) -> None:
    """What a comparison of training steps relies on: `train(on_step=...)` sees every step, and a
    checkpoint it saves is that step's model (it does not copy yet; the finished one does)."""
    import torch
    from transformers import AutoModelForCausalLM

    from attentionviz.toys import training_report
    from attentionviz.toys.induction import RECIPE, _batch, copy_accuracy

    final, early, losses = toy_training
    report = training_report(final)
    assert len(losses) == report["copied_after_steps"] + RECIPE.redundancy_steps
    ids, labels = _batch(np.random.default_rng(321), RECIPE, 128)
    with torch.no_grad():
        before = copy_accuracy(AutoModelForCausalLM.from_pretrained(early).eval(), ids, labels)
        after = copy_accuracy(AutoModelForCausalLM.from_pretrained(final).eval(), ids, labels)
    assert before < 0.5 < 0.9 <= after, (before, after)
    # the loss dropped: the second copy became predictable (the first never is: ~log 96 nats a token)
    assert np.mean(losses[-50:]) < np.mean(losses[EARLY_STEP - 50 : EARLY_STEP]) - 1.0


def test_the_atlas_finds_the_previous_token_head_and_the_induction_head(toy_run: Path) -> None:
    metrics = av.open(toy_run).metrics.set_index(["layer", "head"])
    induction = metrics["induction"].idxmax()
    previous = metrics["previous"].idxmax()
    assert induction[0] == 1 and metrics.loc[induction, "induction"] > 0.5
    assert previous[0] == 0 and metrics.loc[previous, "previous"] > 0.5
    assert metrics.loc[previous, "induction"] < 0.1  # a previous-token head is not an induction head
    assert metrics["importance"].idxmax() == induction


def test_ablating_the_induction_head_raises_the_loss_on_the_repeated_half_most(
    toy_run: Path, induction_toy: Path
) -> None:
    """The model's own loss, on the second copy of sequences it has never seen."""
    from attentionviz.analysis.importance import load_language_model, mean_ablation
    from attentionviz.toys.induction import RECIPE, segments

    metrics = av.open(toy_run).metrics.set_index(["layer", "head"])
    induction = metrics["induction"].idxmax()
    rng = np.random.default_rng(123)
    sequences, targets = [], []
    for segment in segments(rng, 16):
        ids = np.concatenate([[1], segment + 2, segment + 2])
        m = len(segment)
        scored = np.zeros(len(ids), dtype=bool)
        scored[m + 2 : 2 * m + 1] = True  # the second copy, from its second token
        sequences.append(ids)
        targets.append(scored)
    assert RECIPE.layers == 2
    rise, clean = mean_ablation(load_language_model(str(induction_toy)), sequences, targets=targets)
    assert clean < 0.5  # the model copies
    order = np.dstack(np.unravel_index(np.argsort(-rise, axis=None), rise.shape))[0]
    assert tuple(order[0]) == induction, rise
    assert rise[induction] > 1.0


def test_a_probe_shows_the_induction_heads_pattern(toy_run: Path) -> None:
    run = av.open(toy_run)
    probes = run.probes
    assert probes is not None and probes.info.n_sequences == 4
    layer, head = run.metrics.set_index(["layer", "head"])["induction"].idxmax()
    attention = probes.head(layer, head).attention(0)  # <bos> R R: the query at m + 1 + t looks at 2 + t
    m = (len(attention) - 1) // 2
    looked_at = attention[m + 1 : 2 * m + 1].argmax(axis=1)
    assert (looked_at == np.arange(m) + 2).mean() > 0.9


@pytest.fixture(scope="session")
def smollm2_run(tmp_path_factory: pytest.TempPathFactory, text_file: Path, smollm2: Any) -> Path:
    """SmolLM2 over the test sentences, PCA only (its 270 heads' metrics come with it)."""
    out = tmp_path_factory.mktemp("smollm2-run") / "smollm2"
    av.build("smollm2", text_file, out=out, max_tokens=None, layouts=("pca",), dims=(2,), workers=1)
    return out


def test_the_two_models_previous_token_heads_are_near_on_the_fingerprint(
    minilm_run: Path, smollm2_run: Path
) -> None:
    minilm, smollm2 = av.open(minilm_run), av.open(smollm2_run)
    a, b = fingerprints(minilm), fingerprints(smollm2)
    distances = FingerprintSpace.fit([a, b]).distances(a, b)  # [72, 270]
    first = int(a["previous"].idxmax())
    second = int(b["previous"].idxmax())
    assert a.loc[first, "previous"] > 0.9  # MiniLM's 0.2, as the paper reports it
    assert distances[first, second] < np.median(distances)
    mapped = minilm.head_map([smollm2], method="pca")
    assert len(mapped) == 72 + 270 and np.isfinite(mapped[["x", "y"]].to_numpy()).all()
