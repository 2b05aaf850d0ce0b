"""The two-layer induction toy (`attentionviz.toys.induction`) saved on either side of the moment it
learns to copy, and what its own attention says each of its heads does: the ground truth of
comparing checkpoints.

    folder = induction_checkpoints()     # trains once (~30 s), cached beside the toy model
    folder / "before", folder / "after"  # model folders; checkpoints.json: their steps and losses
    roles(run)                           # {(layer, head): "previous" | "induction"} from its attention

The per-step hook of `toys.induction.train` measures the loss on the repeated half (the second
copy of `<bos> R R`) every 100 steps: "before" is the last checkpoint still on the plateau of an
untrained model (that loss within 10% of ln(vocabulary)), "after" the first whose next-token
accuracy on held-out second copies reaches 90%; training stops there. The steps and losses differ
from machine to machine; tests assert on what the two models and their runs show.
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import numpy as np

from attentionviz.store.atomic import read_json, write_json
from attentionviz.store.reader import Run

EVERY = 100  # steps between two looks at the loss on the repeated half
PLATEAU = 0.9  # "before": that loss still >= 90% of ln(words), what predicting blindly costs
COPIES = 0.9  # "after": next-token accuracy on held-out second copies >= 90%
ROLE = 0.4  # a head's mean attention to its previous token / to the token after the earlier copy
INFO = "checkpoints.json"


class _Copies(Exception):
    """Raised by the hook once "after" is saved: nothing later is needed."""


def induction_checkpoints() -> Path:
    """The cached folder with `before/`, `after/` and `checkpoints.json` (made once, atomically)."""
    from attentionviz.cache import cache_root, made_once
    from attentionviz.toys.induction import RECIPE

    target = cache_root() / "models" / f"{RECIPE.folder_name}-checkpoints"
    return made_once(target, _complete, _train, "toy model's checkpoints")


def _complete(folder: Path) -> bool:
    return all((folder / name).exists() for name in ("before", "after", INFO))


def _train(folder: Path) -> None:
    import torch

    from attentionviz.toys.induction import RECIPE, _batch, copy_accuracy, save, second_copy_mask, train

    ids, labels = _batch(np.random.default_rng(RECIPE.seed + 7), RECIPE, 128)
    mask = second_copy_mask(labels)[:, 1:]
    blind = math.log(RECIPE.words)
    losses: dict[int, float] = {}
    steps: dict[str, int] = {}

    def look(step: int, model: Any, loss: float) -> None:
        if step % EVERY:
            return
        model.eval()
        with torch.no_grad():
            logits = model(input_ids=ids).logits[:, :-1]
        chosen = torch.log_softmax(logits, -1).gather(-1, labels[:, 1:].clamp(min=0)[..., None])[..., 0]
        losses[step] = float(-chosen[mask].mean())
        if losses[step] >= PLATEAU * blind:
            save(model, folder / "before")  # overwrites the previous plateau checkpoint
            steps["before"] = step
        elif "before" in steps and copy_accuracy(model, ids, labels) >= COPIES:
            save(model, folder / "after")
            steps["after"] = step
            raise _Copies

    with contextlib.suppress(_Copies):
        train(folder / "unfinished", RECIPE, on_step=look)
    if set(steps) != {"before", "after"}:
        raise RuntimeError(f"the toy never went from the plateau to copying; losses by step: {losses}")
    write_json(folder / INFO, {**steps, "loss_on_repeated_half": losses})


def checkpoint_info(folder: Path) -> dict[str, Any]:
    info: dict[str, Any] = read_json(folder / INFO)
    return info


def role_scores(run: Run) -> dict[tuple[int, int], tuple[float, float]]:
    """{(layer, head): (previous, induction)} from the run's own attention over sequences `<bos> R R`:
    the mean attention of each query to the token before it, and of each query in the second copy
    to the token that followed its earlier occurrence (where an induction head looks)."""
    info = run.info
    lengths = run.sequences["n_tokens"].to_numpy(dtype=np.int64)
    scores = {}
    for layer in range(info.layers):
        for head in range(info.heads):
            h = run.head(layer, head)
            previous, induction, queries, copies = 0.0, 0.0, 0, 0
            for seq, n in enumerate(lengths):
                attention = h.attention(seq)  # [n, n]
                m = (n - 1) // 2  # <bos> R R with R of m tokens: the copy of position i is i + m
                rows = np.arange(1, n)
                previous += float(attention[rows, rows - 1].sum())
                queries += n - 1
                second = np.arange(m + 1, n)  # its earlier occurrence sits at i - m; next to it, i - m + 1
                induction += float(attention[second, second - m + 1].sum())
                copies += len(second)
            scores[(layer, head)] = (previous / queries, induction / copies)
    return scores


def roles(run: Run) -> dict[tuple[int, int], str]:
    """The heads that do a job: "previous" or "induction" (whichever score is above ROLE)."""
    found = {}
    for key, (previous, induction) in role_scores(run).items():
        if max(previous, induction) >= ROLE:
            found[key] = "previous" if previous >= induction else "induction"
    return found
