"""A real, trained transformer whose heads are known: a two-layer attention-only model that copies.

The head atlas needs ground truth that holds on any machine. Olsson et al. (2022) show that a
two-layer attention-only transformer trained on text with repeated segments forms a
previous-token head in layer 0 and an induction head in layer 1 that uses it. attentionviz trains
one, seeded, on one CPU thread (about a minute), on sequences `<bos> R R` where R is a random
segment of 8-50 distinct tokens of a 96-word vocabulary (`w00` ... `w95`), and caches it as a
Hugging Face Llama folder with its tokenizer, like the digits ViT:

    path = induction_model()                    # trains once, then returns the cached folder
    AutoModelForCausalLM.from_pretrained(path)  # LlamaForCausalLM; its MLPs are zero (attention only)
    repeated_segments_text(n=40)                # lines "w05 w17 ... w05 w17 ..." for a corpus
    training_report(path)["accuracy"]           # next-token accuracy on second copies

To keep checkpoints from the middle of training (before and after the induction head forms),
train it yourself with a per-step hook:

    def keep(step: int, model: Any, loss: float) -> None:
        if step % 250 == 0:   # the loss drops (the induction head forms) after ~500 steps here
            save(model, Path(f"checkpoints/step-{step}"))   # a folder `attentionviz build` captures
    report = train(Path("toy"), RECIPE, on_step=keep)   # report["copied_after_steps"]

The model's MLPs are zeroed and frozen (Llama has no attention-only switch), so everything it does
it does with attention. `attentionviz build PATH corpus.txt --split line` captures it like any
model. Tests assert on what the trained model itself does (its own attention, loss and accuracy),
never on the weights one machine's training reaches.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from attentionviz.errors import AttentionVizError
from attentionviz.store.atomic import read_json, write_json

log = logging.getLogger(__name__)

REPORT = "training.json"
REQUIRED = ("config.json", "model.safetensors", "tokenizer.json", REPORT)
BOS = "<bos>"
PAD = "<pad>"


@dataclass(frozen=True)
class Recipe:
    """Everything that decides the trained weights; a change gives a new cache folder."""

    version: int = 1
    words: int = 96  # content tokens w00 ... w95
    min_segment: int = 8
    max_segment: int = 50
    hidden_size: int = 64
    layers: int = 2
    heads: int = 4
    positions: int = 128
    max_steps: int = 3000  # phase 1 stops once the model copies
    batch_size: int = 32
    learning_rate: float = 3e-3
    weight_decay: float = 0.01
    redundancy_steps: int = 500  # phase 2: layer 0's heads mean-ablated at random
    redundancy_dropout: float = 0.3
    redundancy_rate: float = 1e-3
    seed: int = 0

    @property
    def folder_name(self) -> str:
        return f"induction-toy-v{self.version}"


RECIPE = Recipe()


def word(index: int) -> str:
    return f"w{index:02d}"


def induction_model(
    cache_dir: str | Path | None = None, *, progress: Callable[[int, int], None] | None = None
) -> Path:
    """The trained toy model's folder, training it first if it is not cached yet.

    `cache_dir` defaults to `$ATTENTIONVIZ_CACHE/models` (else `~/.cache/attentionviz/models`).
    `progress(steps_done, steps)` is called during training. Training writes into a temporary
    folder renamed into place when complete, so an interrupted training leaves nothing finished.
    """
    from attentionviz.cache import cache_root, made_once

    root = Path(cache_dir).expanduser() if cache_dir is not None else cache_root() / "models"
    target = root / RECIPE.folder_name
    if _complete(target):
        return target
    log.info("training the two-layer induction model once (about a minute); cached in %s", target)
    made_once(target, _complete, lambda folder: train(folder, RECIPE, progress=progress), "toy model")
    report = training_report(target)
    log.info("induction toy: %.1f%% next-token accuracy on second copies", 100 * report["accuracy"])
    return target


def _complete(folder: Path) -> bool:
    return all((folder / name).is_file() for name in REQUIRED)


def training_report(path: str | Path) -> dict[str, Any]:
    """How the toy model was trained and its accuracy on the second copy of held-out sequences."""
    report = read_json(Path(path) / REPORT)
    if not isinstance(report, dict):
        raise AttentionVizError(f"{Path(path) / REPORT} is damaged; delete {path} to retrain the toy model")
    return report


def segments(rng: np.random.Generator, n: int, recipe: Recipe = RECIPE) -> list[np.ndarray]:
    """`n` random segments of distinct word indices, of 8-50 words each."""
    lengths = rng.integers(recipe.min_segment, recipe.max_segment + 1, size=n)
    return [rng.permutation(recipe.words)[:length] for length in lengths]


def repeated_segments_text(n: int = 40, *, seed: int = 1) -> list[str]:
    """`n` texts "R R" (R a random segment, in words): a corpus the toy model was trained on.

    `seed` 0 gives the training stream's own first segments; the default draws others.
    """
    rng = np.random.default_rng(seed + 1000)
    return [" ".join(word(int(i)) for i in np.concatenate([s, s])) for s in segments(rng, n)]


def tokenizer(recipe: Recipe = RECIPE) -> Any:
    """A word-level tokenizer over `<pad>`, `<bos>`, w00 ... that puts `<bos>` first."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {PAD: 0, BOS: 1, **{word(i): i + 2 for i in range(recipe.words)}}
    core = Tokenizer(models.WordLevel(vocab=vocab, unk_token=PAD))
    core.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    core.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, 1)])
    return PreTrainedTokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=core, bos_token=BOS, pad_token=PAD, unk_token=PAD, model_max_length=recipe.positions
    )


def _batch(rng: np.random.Generator, recipe: Recipe, size: int) -> tuple[Any, Any]:
    """([size, S] input ids, [size, S] labels): `<bos> R R`, right-padded; labels -100 on padding."""
    import torch

    rows = [np.concatenate([[1], s + 2, s + 2]) for s in segments(rng, size, recipe)]
    longest = max(len(r) for r in rows)
    ids = torch.zeros((size, longest), dtype=torch.long)
    labels = torch.full((size, longest), -100, dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, : len(row)] = torch.from_numpy(row)
        labels[i, : len(row)] = torch.from_numpy(row)
    return ids, labels


def second_copy_mask(labels: Any) -> Any:
    """[B, S] bool: the targets of the second copy that its context determines (its 2nd token on).

    For `<bos> R R` (R of m tokens) the second copy's tokens sit at m + 1 .. 2m; its first token
    cannot be known (nothing says where R ends), the others are copies of what followed them.
    """
    import torch

    lengths = (labels != -100).sum(dim=1)  # [B] = 1 + 2m
    m = (lengths - 1) // 2
    position = torch.arange(labels.shape[1])[None, :]  # [1, S]
    return (position >= m[:, None] + 2) & (position <= 2 * m[:, None])


def copy_accuracy(model: Any, ids: Any, labels: Any) -> float:
    """Next-token accuracy over the determined targets of the second copies."""
    import torch

    with torch.no_grad():
        logits = model(input_ids=ids).logits  # [B, S, V]
    predicted = logits[:, :-1].argmax(-1)  # [B, S - 1]: the prediction for position t + 1
    mask = second_copy_mask(labels)[:, 1:]
    return float((predicted == labels[:, 1:])[mask].float().mean())


def build_model(recipe: Recipe = RECIPE) -> Any:
    """An untrained two-layer attention-only Llama (rotary positions; its MLPs zeroed and frozen)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=recipe.words + 2,
        hidden_size=recipe.hidden_size,
        intermediate_size=4,  # a stub: its output projection is zero, so the MLP adds nothing
        num_hidden_layers=recipe.layers,
        num_attention_heads=recipe.heads,
        num_key_value_heads=recipe.heads,
        max_position_embeddings=recipe.positions,
        tie_word_embeddings=False,
        bos_token_id=1,
        eos_token_id=1,
        pad_token_id=0,
    )
    model = LlamaForCausalLM(config)
    for layer in model.model.layers:
        for parameter in layer.mlp.parameters():
            parameter.requires_grad_(False)
        with torch.no_grad():
            layer.mlp.down_proj.weight.zero_()
    return model


def _mean_dropout(model: Any, layer: int, p: float, generator: Any) -> Any:
    """A hook that, in training, replaces each head's output in `layer` by its batch mean with
    probability `p` per sequence (the ablation `importance` measures), so that layer's heads learn
    to stand in for one another. Returns the hook's handle."""
    import torch

    heads = model.config.num_attention_heads
    dim = model.config.hidden_size // heads

    def hook(_module: Any, args: tuple[Any, ...]) -> Any:
        if not model.training:
            return None
        x = args[0]  # [B, S, heads * dim]
        y = x.reshape(*x.shape[:2], heads, dim)  # [B, S, H, D]
        mean = y.mean(dim=(0, 1), keepdim=True).detach()
        drop = (torch.rand(x.shape[0], 1, heads, 1, generator=generator) < p).to(x.dtype)
        return ((y * (1 - drop) + mean * drop).reshape(x.shape),)

    return model.model.layers[layer].self_attn.o_proj.register_forward_pre_hook(hook)


def save(model: Any, folder: Path, recipe: Recipe = RECIPE) -> Path:
    """Write `model` (the toy, at any point of its training) and its tokenizer into `folder`: a
    model folder `attentionviz build` and `AutoModelForCausalLM.from_pretrained` open."""
    model.save_pretrained(folder)
    tokenizer(recipe).save_pretrained(folder)
    return folder


def train(
    folder: Path,
    recipe: Recipe = RECIPE,
    *,
    progress: Callable[[int, int], None] | None = None,
    on_step: Callable[[int, Any, float], None] | None = None,
) -> dict[str, Any]:
    """Train the toy model into `folder` (model, tokenizer, training.json); returns the report.

    Two phases. First plain next-token training until the model copies (accuracy on held-out
    second copies >= 98%, checked every 100 steps; the induction head forms in a sudden phase
    change, after ~500 steps here). Then `redundancy_steps` more with layer 0's heads mean-ablated
    at random: the previous-token function spreads over layer 0's heads, so that the induction
    head is the one head whose ablation hurts most (what the atlas's importance must find).

    `on_step(step, model, loss)` is called after every optimizer step of both phases (`step` from
    1; `loss` that step's training loss), e.g. to `save` checkpoints on either side of the phase
    change; the model is in training mode, and is put back in it after the call.
    """
    import torch
    import transformers

    from attentionviz.cache import one_thread_seeded

    start = time.perf_counter()
    rng = np.random.default_rng(recipe.seed)
    check_ids, check_labels = _batch(np.random.default_rng(recipe.seed + 2), recipe, 128)
    total = recipe.max_steps + recipe.redundancy_steps
    with one_thread_seeded(recipe.seed):
        model = build_model(recipe)
        trainable = [p for p in model.parameters() if p.requires_grad]
        optimizer = torch.optim.AdamW(trainable, lr=recipe.learning_rate, weight_decay=recipe.weight_decay)
        warmup = 50
        model.train()
        step = copied_at = 0
        loss = float("nan")
        while step < recipe.max_steps:
            for group in optimizer.param_groups:
                group["lr"] = recipe.learning_rate * min(1.0, (step + 1) / warmup)
            loss = _step(model, optimizer, *_batch(rng, recipe, recipe.batch_size))
            step += 1
            _after_step(on_step, step, model, loss)
            if step % 100 == 0:
                if progress is not None:
                    progress(step, total)
                model.eval()
                copies = copy_accuracy(model, check_ids, check_labels)
                model.train()
                if copies >= 0.98:
                    copied_at = step
                    break
        if not copied_at:
            raise AttentionVizError(
                f"the toy model did not learn to copy in {recipe.max_steps} steps; report this (torch {torch.__version__})"
            )
        handle = _mean_dropout(
            model, 0, recipe.redundancy_dropout, torch.Generator().manual_seed(recipe.seed)
        )
        for group in optimizer.param_groups:
            group["lr"] = recipe.redundancy_rate
        for extra in range(recipe.redundancy_steps):
            loss = _step(model, optimizer, *_batch(rng, recipe, recipe.batch_size))
            _after_step(on_step, step + extra + 1, model, loss)
            if progress is not None and (extra + 1) % 100 == 0:
                progress(step + extra + 1, total)
        handle.remove()
        model.eval()
        ids, labels = _batch(np.random.default_rng(recipe.seed + 1), recipe, 256)
        accuracy = copy_accuracy(model, ids, labels)
    save(model, folder, recipe)
    report = {
        "accuracy": accuracy,
        "measured_on": "256 held-out sequences <bos> R R: next-token accuracy on R's second copy (from its 2nd token)",
        "copied_after_steps": copied_at,
        "final_loss": loss,
        "seconds": round(time.perf_counter() - start, 2),
        "recipe": asdict(recipe),
        "torch": torch.__version__,
        "transformers": transformers.__version__,
    }
    write_json(folder / REPORT, report)
    return report


def _after_step(
    on_step: Callable[[int, Any, float], None] | None, step: int, model: Any, loss: float
) -> None:
    if on_step is not None:
        on_step(step, model, loss)
        model.train()


def _step(model: Any, optimizer: Any, ids: Any, labels: Any) -> float:
    loss = model(input_ids=ids, labels=labels).loss
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return float(loss.detach())
