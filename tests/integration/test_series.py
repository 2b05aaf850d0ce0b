"""Runs while a model trains: `build_step` from a custom loop and `AttentionVizCallback` from a real
transformers `Trainer` build a run every N steps into a series folder, named by step; each run is
the model as it was at that step, over the same sequences."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import attentionviz as av
from attentionviz.analysis.series import training_step
from tests.support.training import lm_batch, tiny_lm

pytestmark = pytest.mark.slow


def test_a_custom_loop_builds_one_run_per_step_of_the_model_as_it_was(
    tmp_path: Path, minilm: Any, sentences: list[str], text_file: Path
) -> None:
    import torch

    tokenizer = minilm.tokenizer
    model = tiny_lm()
    model.train()
    series = tmp_path / "series"
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    batch = lm_batch(tokenizer, sentences)
    before = {k: v.detach().clone() for k, v in model.state_dict().items()}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a training process's own setting
    try:
        first = av.build_step(model, text_file, out=series, step=0, tokenizer=tokenizer)
        assert torch.get_num_threads() == 1, "building a step leaves the training process's threads alone"
    finally:
        torch.set_num_threads(threads)
    assert model.training, "the model is left in training mode"
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items()), "capture changed no weight"
    for _ in range(5):
        optimizer.zero_grad()
        model(**batch).loss.backward()
        optimizer.step()
    last = av.build_step(model, text_file, out=series, step=5, tokenizer=tokenizer)

    assert sorted(p.name for p in series.iterdir()) == ["step-00000000", "step-00000005"]
    assert training_step(first) == ("series", 0) and training_step(last) == ("series", 5)
    assert first.tokens["token_id"].tolist() == last.tokens["token_id"].tolist(), "one fixed corpus"
    assert [layout.key for layout in first.head(0, 0).layouts()] == ["pca.2d", "pca.3d"], "small by default"

    # the run of step 0 is the model as it was then: a build of a copy of the initial weights matches it
    initial = tiny_lm()
    rebuilt = av.build(
        initial.base_model,
        text_file,
        tokenizer=tokenizer,
        out=tmp_path / "rebuilt",
        max_tokens=1000,
        layouts=("pca",),
        workers=1,
    )
    assert (av.compare(first, rebuilt)["drift"] == 0.0).all()
    changed = av.compare(first, last)
    assert (changed["attention"] > 0).all(), "five steps of Adam at lr 1e-2 move every head"


def test_a_trainer_with_the_callback_builds_runs_every_n_steps(
    tmp_path: Path, minilm: Any, sentences: list[str], text_file: Path
) -> None:
    import torch
    from transformers import Trainer, TrainingArguments

    tokenizer = minilm.tokenizer
    batch = lm_batch(tokenizer, sentences)

    class Sentences(torch.utils.data.Dataset):  # type: ignore[type-arg]
        def __len__(self) -> int:
            return len(sentences)

        def __getitem__(self, i: int) -> dict[str, Any]:
            return {key: value[i] for key, value in batch.items()}

    series = tmp_path / "series"
    callback = av.AttentionVizCallback(text_file, out=series, every=2, tokenizer=tokenizer, max_tokens=200)
    args = TrainingArguments(
        output_dir=str(tmp_path / "trainer"),
        max_steps=5,
        per_device_train_batch_size=4,
        learning_rate=1e-2,
        report_to=[],
        save_strategy="no",
        logging_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
    )
    Trainer(model=tiny_lm(), args=args, train_dataset=Sentences(), callbacks=[callback]).train()
    steps = sorted(p.name for p in series.iterdir())
    assert steps == ["step-00000000", "step-00000002", "step-00000004", "step-00000005"]
    runs = [av.open(series / name) for name in steps]
    assert [training_step(run) for run in runs] == [("series", s) for s in (0, 2, 4, 5)]
    assert all(run.info.n_tokens <= 200 for run in runs)
    drifts = [av.compare(a, b)["drift"].to_numpy() for a, b in itertools.pairwise(runs)]
    assert all(np.all(d > 0) for d in drifts), "every step of training changes every head a little"


def test_a_step_folder_holding_another_training_run_is_refused_unless_overwritten(
    tmp_path: Path, minilm: Any, text_file: Path
) -> None:
    series = tmp_path / "series"
    av.build_step(
        tiny_lm(), text_file, out=series, step=3, tokenizer=minilm.tokenizer, max_tokens=100, layouts=()
    )
    other = tiny_lm()
    with __import__("torch").no_grad():
        other.transformer.h[0].attn.c_attn.weight.mul_(2)
    with pytest.raises(av.AttentionVizError, match="already holds a run"):
        av.build_step(
            other, text_file, out=series, step=3, tokenizer=minilm.tokenizer, max_tokens=100, layouts=()
        )
    av.build_step(
        other,
        text_file,
        out=series,
        step=3,
        tokenizer=minilm.tokenizer,
        max_tokens=100,
        layouts=(),
        overwrite=True,
    )
