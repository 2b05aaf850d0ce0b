"""A transformers `TrainerCallback` that builds a run of the model every N steps (`series.build_step`).

    trainer = Trainer(model, args, train_dataset=data,
                      callbacks=[AttentionVizCallback(corpus, out="runs/series", every=100)])

This module imports transformers when it is imported; `attentionviz.AttentionVizCallback` imports it
only when a user asks for the callback.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments

from attentionviz.analysis.series import build_step, step_options
from attentionviz.errors import AttentionVizError

log = logging.getLogger(__name__)


class AttentionVizCallback(TrainerCallback):  # type: ignore[misc]
    """Build a run of the model on `corpus` into `out/step-NNNNNNNN` every `every` steps.

    Also before the first step (`first`) and after the last (`last`). The tokenizer is the
    Trainer's `processing_class` unless given. `settings` are `BuildOptions` fields for each step's
    run (`max_tokens`, `layouts`, ...; see `series.STEP_DEFAULTS`). Only the main process builds.
    """

    def __init__(
        self,
        corpus: Any,
        *,
        out: str | Path,
        every: int = 100,
        tokenizer: Any = None,
        first: bool = True,
        last: bool = True,
        **settings: Any,
    ) -> None:
        if every < 1:
            raise AttentionVizError(f"every must be a whole number of steps of at least 1, not {every}")
        step_options(**settings)  # a bad option fails now, not after the first N steps of training
        self.corpus = corpus
        self.out = Path(out)
        self.every = every
        self.tokenizer = tokenizer
        self.first = first
        self.last = last
        self.settings = settings
        self.built: list[int] = []

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.first:
            self._build(state, kwargs)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if state.global_step % self.every == 0:
            self._build(state, kwargs)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if self.last:
            self._build(state, kwargs)

    def _build(self, state: TrainerState, kwargs: dict[str, Any]) -> None:
        step = state.global_step
        if not state.is_world_process_zero or step in self.built:
            return
        tokenizer = self.tokenizer or kwargs.get("processing_class") or kwargs.get("tokenizer")
        build_step(
            kwargs["model"], self.corpus, out=self.out, step=step, tokenizer=tokenizer, **self.settings
        )
        self.built.append(step)
