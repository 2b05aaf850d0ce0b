"""Head importance by mean ablation: how much the model's loss rises when one head's output is
replaced by its mean over the corpus.

    run_importance(run, model="smollm2", tokens=512)     # stored in RUN/analysis/importance.json
    mean_ablation(lm, sequences, targets=...)              # [layers, heads] loss rises, any model

The loss is the model's own: next-token cross-entropy for decoders, masked-LM cross-entropy on a
seeded 15% of the tokens for encoders with a masked-LM head. A head's output is what it passes to
the output projection, `softmax(q k^T) v`, one [head_dim] vector per token; its mean is taken over
every token of the measured sequences.

Not a full pass per head: the heads of layer l share everything before layer l, so one clean
pass records every layer's output, and each layer's heads are then ablated together in one
batched pass, replica r of the batch ablating head r, with layers 0..l-1 answered from the
record (their forward is not run). Per batch of sequences that costs one clean pass plus
sum_l heads * (layers - l) / layers passes: about half of one pass per head. Work is saved after
every batch, so an interrupted run resumes; progress is reported per batch.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from attentionviz.analysis.progress import progress_bar
from attentionviz.errors import AttentionVizError, ModelError
from attentionviz.store.atomic import read_json, write_json, write_npy
from attentionviz.store.reader import Run

log = logging.getLogger(__name__)

ANALYSIS_DIR = "analysis"
IMPORTANCE = "importance.json"
MEANS = "importance-means.npy"
MASKED_SHARE = 0.15
BATCH_TOKENS = 256  # real tokens per batch of sequences (of similar lengths)
LOGIT_BYTES = 192 * 2**20  # at most this many bytes of logits per forward pass


@dataclass
class LanguageModel:
    """A model with its LM head, ready for ablation."""

    model: Any  # *ForCausalLM or *ForMaskedLM
    causal: bool
    mask_token_id: int | None  # encoders: the [MASK] id
    attention_modules: tuple[Any, ...]
    layers: tuple[Any, ...]  # the layer modules, whose forward a replicated pass skips
    fingerprint: str


def load_language_model(model: Any, *, device: str = "cpu", tokenizer: Any = None) -> LanguageModel:
    """The model with its LM head: a name or folder (as `attentionviz build` takes), or an already
    loaded `*ForCausalLM` / `*ForMaskedLM`. A one-line error when it has no LM head."""
    from attentionviz.capture.architectures import family_for
    from attentionviz.capture.model_facts import _attention_modules

    fingerprint = ""
    if isinstance(model, str | Path):
        model, tokenizer, fingerprint = _load(str(model), device=device)
    config = model.config
    family = family_for(config.model_type)
    if family.kind != "text":
        raise ModelError(f"head importance needs a language model; {config.model_type} is an image model")
    base = model.base_model
    if base is model:
        raise ModelError(
            f"{type(model).__name__} has no LM head; pass the model with it (a *ForCausalLM or *ForMaskedLM)"
        )
    modules = _attention_modules(base, family)
    layers = _layer_modules(base, family.layers, modules)
    causal = bool(getattr(modules[0], "is_causal", False))
    mask_id = None
    if not causal:
        mask_id = getattr(tokenizer, "mask_token_id", None) if tokenizer is not None else None
        if mask_id is None:
            raise ModelError(
                "head importance of an encoder needs its tokenizer's [MASK] token; pass `tokenizer=`"
            )
    model.eval()
    fingerprint = fingerprint or type(model).__name__
    return LanguageModel(model, causal, mask_id, modules, layers, fingerprint)


def _layer_modules(base: Any, paths: str, modules: tuple[Any, ...]) -> tuple[Any, ...]:
    for path in paths.split("|"):
        with contextlib.suppress(AttributeError):
            layers = tuple(base.get_submodule(path))
            if len(layers) == len(modules):
                return layers
    raise ModelError(f"cannot find the layers of {type(base).__name__} at {paths}")


def _load(name: str, *, device: str) -> tuple[Any, Any, str]:
    import transformers

    from attentionviz.capture import loading
    from attentionviz.capture.architectures import family_for

    _, location = loading.resolve(name)
    if isinstance(location, Path) and location.suffix.lower() == ".gguf":
        from attentionviz.hashing import sha256_file

        location = loading._gguf_to_folder(location, sha256_file(location))
    config = transformers.AutoConfig.from_pretrained(location)
    family = family_for(config.model_type)
    decoder = family.name not in ("bert", "distilbert")
    auto = transformers.AutoModelForCausalLM if decoder else transformers.AutoModelForMaskedLM
    with loading._transformers_quiet():
        loaded: Any = auto.from_pretrained(location, output_loading_info=True)
        net, info = loaded
        tokenizer = transformers.AutoTokenizer.from_pretrained(location)
    prefix = net.base_model_prefix
    head_missing = [key for key in info.get("missing_keys", ()) if not key.startswith(prefix + ".")]
    if head_missing:
        raise ModelError(
            f"{name} has no {'language-modelling' if decoder else 'masked-LM'} head (its weights lack "
            f"{head_missing[0]}), so its heads' importance cannot be measured; build without --importance"
        )
    digest = hashlib.sha256(f"{name}|{type(net).__name__}".encode()).hexdigest()[:16]
    return net.to(device), tokenizer, digest


# --- batches ---------------------------------------------------------------------------------------


@dataclass
class Batch:
    ids: Any  # [B, S] long, right-padded
    mask: Any  # [B, S] long attention mask
    labels: (
        Any  # [B, S] long target ids at scored positions (the next token, or the masked one), -100 elsewhere
    )


def _batches(
    lm: LanguageModel, sequences: Sequence[np.ndarray], targets: Sequence[np.ndarray] | None, seed: int
) -> list[Batch]:
    import torch

    rng = np.random.default_rng(seed)
    batches: list[Batch] = []
    current: list[int] = []
    by_length = np.argsort([len(s) for s in sequences], kind="stable")  # similar lengths: little padding
    for rank, index in enumerate(by_length):
        current.append(int(index))
        if sum(len(sequences[i]) for i in current) >= BATCH_TOKENS or rank == len(sequences) - 1:
            longest = max(len(sequences[i]) for i in current)
            ids = torch.zeros((len(current), longest), dtype=torch.long)
            mask = torch.zeros_like(ids)
            labels = torch.full_like(ids, -100)
            for row, i in enumerate(current):
                seq = torch.as_tensor(np.asarray(sequences[i], dtype=np.int64))
                n = len(seq)
                ids[row, :n] = seq
                mask[row, :n] = 1
                scored = np.ones(n, dtype=bool) if targets is None else np.asarray(targets[i], dtype=bool)
                if lm.causal:  # position t predicts token t + 1
                    keep = torch.as_tensor(scored[1:])
                    labels[row, : n - 1] = torch.where(keep, seq[1:], torch.tensor(-100))
                else:  # a seeded 15% of the scored positions are masked and predicted
                    choice = np.flatnonzero(scored)
                    picked = rng.choice(choice, size=max(1, round(MASKED_SHARE * len(choice))), replace=False)
                    labels[row, picked] = seq[picked]
                    ids[row, picked] = int(lm.mask_token_id)  # type: ignore[arg-type]
            batches.append(Batch(ids, mask, labels))
            current = []
    return batches


def _loss_sums(logits: Any, labels: Any) -> Any:
    """[B] summed cross-entropy over each row's scored positions."""
    import torch

    flat = torch.nn.functional.cross_entropy(
        logits.float().reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100, reduction="none"
    )
    return flat.reshape(labels.shape).sum(dim=1)


# --- passes -------------------------------------------------------------------------------------


@contextlib.contextmanager
def _attention_function(lm: LanguageModel, edit: Callable[[int, Any], Any]) -> Iterator[None]:
    """The capture attention function on `lm`, with `edit` applied to every layer's head outputs."""
    from attentionviz.capture import recorder as rec
    from attentionviz.capture.architectures import family_for

    rec.register()
    net = lm.model
    original = net.config._attn_implementation
    net.set_attn_implementation(rec.ATTENTION_NAME)
    recorder = rec.Recorder(
        layer_of={id(m): i for i, m in enumerate(lm.attention_modules)},
        family=family_for(net.config.model_type),
        edit_output=edit,
    )
    try:
        with rec.recording(recorder):
            yield
    finally:
        net.set_attn_implementation(original)


def _forward(lm: LanguageModel, batch: Batch, replicas: int = 1) -> Any:
    import torch

    device = next(lm.model.parameters()).device
    ids = batch.ids.repeat(replicas, 1).to(device)
    mask = batch.mask.repeat(replicas, 1).to(device)
    kwargs: dict[str, Any] = {"use_cache": False} if lm.causal else {}
    with torch.inference_mode():
        return lm.model(input_ids=ids, attention_mask=mask, **kwargs).logits


def _repeat(value: Any, times: int) -> Any:
    """A layer's recorded output (tensor, or tuple of them) repeated `times` along the batch."""
    import torch

    if isinstance(value, torch.Tensor):
        return value.repeat(times, *([1] * (value.dim() - 1)))
    if isinstance(value, tuple):
        return tuple(_repeat(v, times) for v in value)
    return value


@contextlib.contextmanager
def _skipped(layers: Sequence[Any], output: Any) -> Iterator[None]:
    """Layers whose forward is not run: each returns `output` (the last one's recorded output)."""
    for layer in layers:
        layer.forward = lambda *args, _out=output, **kwargs: _out
    try:
        yield
    finally:
        for layer in layers:
            del layer.forward


def _head_means(lm: LanguageModel, batches: list[Batch]) -> tuple[np.ndarray, int]:
    """([layers, heads, head_dim] mean head outputs over every token, scored positions)."""
    import torch

    sums: dict[int, Any] = {}
    count = 0
    mask_now: list[Any] = [None]

    def accumulate(layer: int, output: Any) -> Any:  # output [B, S, H, D]
        valid = mask_now[0].to(output.device).bool()
        total = output[valid].double().sum(dim=0)  # [H, D]
        sums[layer] = sums.get(layer, 0) + total
        return output

    with _attention_function(lm, accumulate):
        for batch in batches:
            mask_now[0] = batch.mask
            _forward(lm, batch)
            count += int(batch.mask.sum())
    scored = sum(int((b.labels != -100).sum()) for b in batches)
    means = torch.stack([sums[i] / count for i in range(len(lm.attention_modules))]).float().cpu().numpy()
    return means, scored


def _ablated_batch(lm: LanguageModel, batch: Batch, means: Any) -> tuple[np.ndarray, float]:
    """([layers, heads] summed loss with each head mean-ablated, the clean summed loss) for one batch."""
    n_layers, n_heads = means.shape[:2]
    recorded: dict[int, Any] = {}
    hooks = [
        layer.register_forward_hook(lambda _m, _a, out, i=i: recorded.__setitem__(i, out))
        for i, layer in enumerate(lm.layers)
    ]
    try:
        with _attention_function(lm, lambda layer, output: output):
            clean_logits = _forward(lm, batch)
    finally:
        for hook in hooks:
            hook.remove()
    labels = batch.labels.to(clean_logits.device)
    clean = float(_loss_sums(clean_logits, labels).sum())
    vocab = int(clean_logits.shape[-1])
    del clean_logits
    per_replica = max(1, LOGIT_BYTES // max(1, 4 * vocab * batch.ids.numel()))
    rows = batch.ids.shape[0]
    out = np.zeros((n_layers, n_heads))
    for layer in range(n_layers):
        for first in range(0, n_heads, per_replica):
            heads = list(range(first, min(n_heads, first + per_replica)))

            def ablate(at: int, output: Any, layer: int = layer, heads: list[int] = heads) -> Any:
                if at != layer:
                    return output
                view = output.view(len(heads), rows, *output.shape[1:])  # [R, B, S, H, D]
                for r, h in enumerate(heads):
                    view[r, :, :, h, :] = means[layer, h]
                return output

            skipped = (
                _skipped(lm.layers[:layer], _repeat(recorded[layer - 1], len(heads)))
                if layer
                else contextlib.nullcontext()
            )
            with skipped, _attention_function(lm, ablate):
                logits = _forward(lm, batch, replicas=len(heads))
            sums = _loss_sums(logits, labels.repeat(len(heads), 1)).reshape(len(heads), rows).sum(dim=1)
            out[layer, heads] = sums.double().cpu().numpy()
            del logits
    return out, clean


def mean_ablation(
    lm: LanguageModel,
    sequences: Sequence[np.ndarray],
    *,
    targets: Sequence[np.ndarray] | None = None,
    seed: int = 0,
    state: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[np.ndarray, float]:
    """([layers, heads] mean loss rise when each head is mean-ablated, the clean mean loss).

    `sequences` are token id arrays; `targets` (bool, per position) limits which tokens are scored
    (decoders: the token predicted at that position; default: all). `state` is a folder where the
    work done so far is kept, so a call interrupted and repeated resumes.
    """
    import torch

    batches = _batches(lm, sequences, targets, seed)
    if not batches or not any(int((b.labels != -100).sum()) for b in batches):
        raise AttentionVizError("no token to measure the loss on; give longer sequences")
    key = hashlib.sha256(
        json.dumps([lm.fingerprint, seed, [np.asarray(s).tolist() for s in sequences]]).encode()
        + json.dumps(None if targets is None else [np.asarray(t).tolist() for t in targets]).encode()
    ).hexdigest()
    saved = _resume(state, key)
    if saved is None:
        means, scored = _head_means(lm, batches)
        saved = {
            "key": key,
            "done": 0,
            "scored": scored,
            "clean": 0.0,
            "ablated": np.zeros(means.shape[:2]).tolist(),
        }
        if state is not None:
            write_npy(state / MEANS, means)
    else:
        assert state is not None  # only a saved state is resumed
        means = np.load(state / MEANS)
    mean_tensor = torch.as_tensor(means, device=next(lm.model.parameters()).device)
    ablated = np.asarray(saved["ablated"], dtype=np.float64)
    for index in range(int(saved["done"]), len(batches)):
        sums, clean_sum = _ablated_batch(lm, batches[index], mean_tensor)
        ablated += sums
        saved.update(done=index + 1, clean=float(saved["clean"]) + clean_sum, ablated=ablated.tolist())
        if state is not None:
            write_json(state / "importance-state.json", saved, durable=False)
        if progress is not None:
            progress(index + 1, len(batches))
    scored = int(saved["scored"])
    clean_mean = float(saved["clean"]) / scored
    return ablated / scored - clean_mean, clean_mean


def _resume(state: Path | None, key: str) -> dict[str, Any] | None:
    if state is None:
        return None
    path = state / "importance-state.json"
    if not path.exists() or not (state / MEANS).exists():
        return None
    with contextlib.suppress(OSError, ValueError):
        saved = read_json(path)
        if isinstance(saved, dict) and saved.get("key") == key:
            return saved
    return None


def run_importance(
    run: Run,
    *,
    model: Any = None,
    tokens: int = 512,
    device: str = "cpu",
    seed: int = 0,
    progress: Any = None,
    overwrite: bool = False,
) -> Path:
    """Measure every head's importance on about `tokens` tokens of the run's corpus and store it
    in `RUN/analysis/importance.json` ({"importance": [[layers x heads]], "loss": clean loss, ...})."""
    from attentionviz.analysis.attention import sample_sequences

    target = run.path / ANALYSIS_DIR / IMPORTANCE
    if target.exists() and not overwrite:
        return target
    if run.info.kind != "text":
        raise AttentionVizError("head importance needs a text run (a language model's loss)")
    if model is None:
        if run.manifest.model.source == "in-memory":
            raise AttentionVizError(
                "this run's model was passed in memory; pass `model=` (with its LM head) to measure importance"
            )
        model = run.manifest.model.id
    lm = load_language_model(model, device=device)
    chosen = sample_sequences(run, tokens, seed)
    table = run.tokens
    starts = run.sequences["token_start"].to_numpy()
    lengths = run.sequences["n_tokens"].to_numpy()
    ids = table["token_id"].to_numpy(dtype=np.int64)
    sequences = [ids[starts[s] : starts[s] + lengths[s]] for s in chosen]
    state = run.path / ANALYSIS_DIR
    state.mkdir(exist_ok=True)
    report, close = progress_bar(progress, "importance", "batch")
    try:
        rise, clean = mean_ablation(lm, sequences, seed=seed, state=state, progress=report)
    finally:
        close()
    write_json(
        target,
        {
            "importance": [[float(v) for v in row] for row in rise],
            "loss": clean,
            "tokens": int(sum(len(s) for s in sequences)),
            "sequences": len(sequences),
            "loss_kind": "next-token" if lm.causal else "masked-LM (15% of tokens)",
            "seed": seed,
        },
    )
    for name in ("importance-state.json", MEANS):
        (state / name).unlink(missing_ok=True)
    return target


def load_importance(run: Run) -> np.ndarray | None:
    """[layers, heads] stored importance, or None when it was not computed."""
    path = run.path / ANALYSIS_DIR / IMPORTANCE
    if not path.exists():
        return None
    data = read_json(path)
    return np.asarray(data["importance"], dtype=np.float64)
