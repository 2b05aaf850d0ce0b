"""Model + corpus -> run folder: plan, sample, stream batches through the model, publish.

    corpus ──characters──► seeded item order ──tokenize a prefix──► sampled sequences ──► token tables
                                                                                          │
    check on a slice of the first batch: the attention derived from what the capture function
    records equals the model's own eager attention, for every layer
                                                                                          │
    batches (similar lengths, numbered in batch order) ──► forward with the capture attention
        ──► each layer's q, k, value norms packed to [heads, tokens, ...] and pwritten in place,
            and its weights' corner summed into the aggregate ──► RUN.partial ──► RUN

Memory stays bounded: sampling tokenizes about the budget, batches are sized by a token and an
attention budget (a longer sequence's attention is computed a block of query rows at a time), and
each layer's tensors are written as soon as it has run. Attention itself is never stored: it is a
function of q, k and the per-layer facts the manifest records (`store/recompute.py`).

What a batch records is declared in two places: `store/arrays.py` (each array's shape and dtype)
and `_write_layer` (which tensor of the capture function's `LayerCall` fills it). A new captured
array is one row in each; extra sequences (probes, say) are more entries of `Plan.sequences`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from attentionviz import __version__
from attentionviz.capture import recorder as rec
from attentionviz.capture.aggregate import AggregateSums
from attentionviz.capture.architectures import TABLE_PATH, family_for
from attentionviz.capture.heap import heap_kept
from attentionviz.capture.loading import LoadedModel
from attentionviz.capture.model_facts import ModelFacts, model_facts
from attentionviz.capture.packing import BatchRows
from attentionviz.capture.sampling import sample_text
from attentionviz.capture.sequences import (
    ImageSequence,
    TextSequence,
    iter_image_sequences,
    plan_batches,
    sample,
)
from attentionviz.capture.tables import image_tables, text_tables
from attentionviz.errors import AttentionVizError, CorpusError, ModelError
from attentionviz.options import BuildOptions
from attentionviz.store import names
from attentionviz.store.arrays import STORED, Sizes, aggregate_positions, as_float, capture_arrays
from attentionviz.store.manifest import LayerInfo, Manifest, load_manifest, save_manifest
from attentionviz.store.recompute import attention_from_qk
from attentionviz.store.tables import SEQUENCE_SCHEMA, TOKEN_SCHEMA, write_table
from attentionviz.store.writer import CaptureWriter, publish

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (tokens done, tokens total)

CHECK_LENGTH = 128  # the check against eager attention runs on (at most) this many tokens
CHECK_SEQUENCES = 2
TOLERANCE = {"float32": 1e-4, "float16": 2e-2, "bfloat16": 2e-2}  # derived vs eager attention


@dataclass(frozen=True)
class Slot:
    """Where one sequence goes: its first token row and its length."""

    token_start: int
    length: int


@dataclass
class Plan:
    sequences: list[TextSequence] | list[ImageSequence]
    lengths: np.ndarray  # [n_sequences] tokens per sequence
    slots: list[Slot]
    batches: list[list[int]]
    identity: str  # model + corpus + capture settings
    resume_key: str  # identity + batch plan + schema
    schema_1_identity: str  # what a schema-1 run of this capture recorded (it mixed the schema in)


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def plan(
    loaded: LoadedModel,
    corpus: Any,
    facts: ModelFacts,
    options: BuildOptions,
    sequences: list[TextSequence] | None = None,
) -> Plan:
    """Count, sample and materialise the sequences to capture, and group them into batches.

    `sequences`, when given, are captured as they are instead of a sample of `corpus` (probes).
    """
    if corpus.kind != facts.family.kind:
        raise CorpusError(
            f"{loaded.info.id} is a {facts.family.kind} model but {corpus.info.source} is an {corpus.kind} corpus; "
            f"pass {'a folder of images' if facts.family.kind == 'image' else 'a text corpus'}"
        )
    selected: list[TextSequence] | list[ImageSequence]
    if facts.family.kind == "image":
        everything = list(iter_image_sequences(corpus, length=facts.seq_len_image))
        keys = [s.key for s in everything]
        lengths = np.full(len(keys), facts.seq_len_image, dtype=np.int64)
        chosen = set(
            sample(
                keys,
                lengths,
                max_tokens=options.max_tokens,
                max_sequences=options.max_sequences,
                seed=options.seed,
            )
        )
        selected = [s for s in everything if s.key in chosen]
    elif sequences is not None:
        selected = sequences
    else:
        limit = (
            facts.context_length
            if options.max_length is None
            else min(options.max_length, facts.context_length)
        )
        selected = sample_text(
            corpus,
            loaded.tokenizer,
            limit=limit,
            max_tokens=options.max_tokens,
            max_sequences=options.max_sequences,
            seed=options.seed,
        )
    if not selected:
        raise CorpusError(
            f"no sequence of {corpus.info.source} fits the budget (--max-tokens {options.max_tokens}); "
            "raise --max-tokens or lower --max-length"
        )
    lengths = np.asarray(
        [s.length if isinstance(s, ImageSequence) else len(s.input_ids) for s in selected], dtype=np.int64
    )
    # The windows of one long text sort together (as long as its longest), so they stay in order.
    items = np.asarray([s.key.item for s in selected])
    longest_of_item = np.zeros(int(items.max()) + 1, dtype=np.int64)
    np.maximum.at(longest_of_item, items, lengths)
    grouped = plan_batches(
        lengths,
        batch_tokens=options.batch_tokens,
        max_batch=options.max_batch,
        attention_budget=options.attention_budget,
        order_by=longest_of_item[items],
    )
    # Sequences are numbered in batch order, so each batch is one contiguous range of token rows
    # (one write per head); `document`/`window` keep the corpus position.
    order = [index for batch in grouped for index in batch]
    selected = [selected[i] for i in order]  # type: ignore[assignment]
    seq_lengths = lengths[order]
    starts = np.concatenate([[0], np.cumsum(seq_lengths)[:-1]])
    slots = [Slot(int(a), int(n)) for a, n in zip(starts, seq_lengths, strict=True)]
    batches, first = [], 0
    for batch in grouped:
        batches.append(list(range(first, first + len(batch))))
        first += len(batch)
    # What is captured, not how it is stored: a run of an older schema upgrades to the same identity
    captured = {
        "model": loaded.info.fingerprint or loaded.info.id,
        "corpus": corpus.info.fingerprint,
        "settings": options.capture_settings(),
    }
    identity = _digest(captured)
    resume_key = _digest({"identity": identity, "batches": batches, "schema": names.SCHEMA_VERSION})
    return Plan(
        selected, seq_lengths, slots, batches, identity, resume_key, _digest({**captured, "schema": 1})
    )


def _check_target(run_dir: Path, work: Plan) -> bool:
    """True when `run_dir` already holds this exact capture; an error when it holds another."""
    if not (run_dir / names.MANIFEST).exists():
        if run_dir.exists() and run_dir.is_dir() and any(run_dir.iterdir()):
            raise AttentionVizError(
                f"{run_dir} exists and is not an attentionviz run; choose another --out folder"
            )
        if run_dir.exists() and not run_dir.is_dir():
            raise AttentionVizError(f"{run_dir} is a file; choose a folder for --out")
        return False
    existing = load_manifest(run_dir, older=True)
    recorded = existing.settings.get("identity")
    if existing.schema_version == 1 and recorded == work.schema_1_identity:
        from attentionviz.store.upgrade import upgrade_run

        log.info("%s", upgrade_run(run_dir))
        upgraded = load_manifest(run_dir)
        settings = {**upgraded.settings, "identity": work.identity}
        save_manifest(run_dir, dataclasses.replace(upgraded, settings=settings))
        return True
    if existing.schema_version >= 2 and recorded == work.identity:
        return True
    raise AttentionVizError(
        f"{run_dir} already holds a run of {existing.model.id} on {existing.corpus.source} with other settings; "
        "choose another --out folder, or delete that one to rebuild it"
    )


def _forward_inputs(
    loaded: LoadedModel, batch: list[Any], members: list[int], images_dir: Path | None
) -> dict[str, Any]:
    """Model inputs for one batch; text is right-padded and masked."""
    import torch

    if isinstance(batch[0], ImageSequence):
        from attentionviz.capture.images import load_pixels

        pixels = load_pixels(
            loaded.processor,
            [s.image_path for s in batch],
            save_as=None if images_dir is None else [images_dir / f"{i}.png" for i in members],
        )
        return {"pixel_values": pixels.to(loaded.device)}
    longest = max(len(s.input_ids) for s in batch)
    pad = getattr(loaded.tokenizer, "pad_token_id", None) or 0
    ids = torch.full((len(batch), longest), pad, dtype=torch.long)
    mask = torch.zeros((len(batch), longest), dtype=torch.long)
    for row, seq in enumerate(batch):
        n = len(seq.input_ids)
        ids[row, :n] = torch.from_numpy(seq.input_ids)
        mask[row, :n] = 1
    return {"input_ids": ids.to(loaded.device), "attention_mask": mask.to(loaded.device)}


def _check_against_eager(
    loaded: LoadedModel, inputs: dict[str, Any], lengths: list[int], facts: ModelFacts, recorder: rec.Recorder
) -> dict[int, LayerInfo]:
    """Run a few sequences through the capture function and through the model's own eager attention.

    The outputs must agree (capturing changes nothing), and for every layer, head and sequence the
    attention derived from the recorded q and k with the layer's recorded facts must equal the
    weights eager attention computed. Returns those facts, per layer.
    """
    import torch

    net = loaded.model
    calls: dict[int, rec.LayerCall] = {}
    recorder.reset()
    recorder.on_layer = calls.__setitem__
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a few short sequences: on a busy machine each parallel step of such
    try:  # small tensors waits milliseconds for the pool (1.1 s of CPU for MiniLM, against 0.1 s alone)
        eager, ours = _check_forwards(net, inputs, facts, recorder)
    finally:
        torch.set_num_threads(threads)
    dtype = _dtype_name(net.dtype)
    mask = inputs.get("attention_mask")
    theirs = eager.last_hidden_state
    if mask is not None:
        theirs, ours = theirs[mask.bool()], ours[mask.bool()]
    scale = float(theirs.abs().max()) or 1.0
    error = float((theirs - ours).abs().max()) / scale
    if not error <= TOLERANCE[dtype]:
        raise ModelError(
            f"capturing {loaded.info.architecture} changes its outputs (relative error {error:.2g} against its eager "
            f"attention): the family {facts.family.name!r} does something the capture function does not; extend "
            f"capture/recorder.py and its row in {TABLE_PATH}"
        )
    layers = {
        layer: LayerInfo(call.scaling, call.causal, call.sliding_window, call.softcap)
        for layer, call in calls.items()
    }
    if eager.attentions is None or len(eager.attentions) != facts.n_layers:
        raise ModelError(
            f"{loaded.info.architecture} does not return its eager attention weights, so what a run records cannot "
            f"be checked against them; extend the {facts.family.name!r} row of {TABLE_PATH}"
        )
    kv = list(facts.kv_map)
    for layer, weights in enumerate(eager.attentions):  # [B, H, S, S] each
        call = calls[layer]
        for row, length in enumerate(lengths):
            q = call.q[row, :, :length].float().numpy()  # [H, len, D]
            k = call.k[row, kv, :length].float().numpy()  # [H, len, D]
            expected = weights[row, :, :length, :length].float().cpu().numpy()
            error = float(np.abs(attention_from_qk(q, k, layers[layer]) - expected).max())
            if not error <= TOLERANCE[dtype]:
                raise ModelError(
                    f"layer {layer}'s attention is not softmax(q.k * scaling + mask) of the queries and keys it "
                    f"computed (off by up to {error:.2g} from its eager attention): the family "
                    f"{facts.family.name!r} adds something a run does not record (a position bias, ALiBi, "
                    f"attention sinks); record it, or extend that row of {TABLE_PATH}"
                )
    return layers


def _check_forwards(
    net: Any, inputs: dict[str, Any], facts: ModelFacts, recorder: rec.Recorder
) -> tuple[Any, Any]:
    """The model's eager outputs (with its attention weights), and its last hidden state through the capture function."""
    import torch

    with torch.inference_mode():
        with rec.recording(recorder):
            ours = net(**inputs).last_hidden_state
        facts.check_all_layers_called(recorder)
        net.set_attn_implementation("eager")
        try:
            eager = net(**inputs, output_attentions=True)
        finally:
            net.set_attn_implementation(rec.ATTENTION_NAME)
    return eager, ours


def _check_inputs(loaded: LoadedModel, work: Plan) -> tuple[dict[str, Any], list[int]]:
    """A few sequences of the first batch, cut to CHECK_LENGTH tokens (eager attention is O(len**2))."""
    members = work.batches[0][:CHECK_SEQUENCES]
    inputs = _forward_inputs(loaded, [work.sequences[i] for i in members], members, None)
    lengths = [int(work.lengths[i]) for i in members]
    if "input_ids" in inputs:
        inputs = {name: tensor[:, :CHECK_LENGTH] for name, tensor in inputs.items()}
        lengths = [min(length, CHECK_LENGTH) for length in lengths]
    return inputs, lengths


def _dtype_name(dtype: Any) -> str:
    """A torch dtype as a run stores it ("float32", "float16", "bfloat16"), or a one-line error."""
    name = str(dtype).removeprefix("torch.")
    if name not in STORED:
        raise ModelError(f"the model computes in {name}, which a run cannot store; pass --dtype float32")
    return name


def capture(
    loaded: LoadedModel,
    corpus: Any,
    run_dir: Path,
    options: BuildOptions,
    *,
    progress: Progress | None = None,
    sequences: list[TextSequence] | None = None,
) -> Path:
    """Capture `corpus` through `loaded` into `run_dir` (resuming an interrupted build). Returns `run_dir`.

    `sequences` replaces the corpus sample with given sequences (the probes: `capture/probes.py`).
    """
    import torch

    run_dir = Path(run_dir)
    family = family_for(loaded.model.config.model_type)
    facts = model_facts(loaded.model, family)
    work = plan(loaded, corpus, facts, options, sequences)
    if _check_target(run_dir, work):
        log.info("%s already holds this capture", run_dir)
        return run_dir
    if options.pre_rope and family.pre_rope is None:
        raise ModelError(
            f"{loaded.info.architecture} has no rotary position encoding, so --pre-rope has nothing to add"
        )
    n_tokens = int(work.lengths.sum())
    positions = aggregate_positions(int(work.lengths.max()))
    rec.register()
    net = loaded.model
    recorder = rec.Recorder(
        layer_of=facts.layer_of,
        family=family,
        keep_pre_rope=options.pre_rope,
        keep_values=options.values,
        corner=positions,
        budget=options.attention_budget,
    )
    hooks = facts.add_pre_rope_hooks() if options.pre_rope else []
    original_attention = net.config._attn_implementation
    net.set_attn_implementation(rec.ATTENTION_NAME)
    writer: CaptureWriter | None = None
    try:
        # before anything is written: a model the run cannot describe leaves nothing behind
        layer_infos = _check_against_eager(loaded, *_check_inputs(loaded, work), facts, recorder)
        staging = names.staging_dir(run_dir)
        staging.mkdir(parents=True, exist_ok=True)
        _write_tables(staging, work, loaded, facts)
        sizes = Sizes(facts.n_heads, facts.n_kv_heads, facts.head_dim, n_tokens, positions)
        specs = capture_arrays(
            facts.n_layers,
            sizes,
            dtype=_dtype_name(loaded.model.dtype),
            pre_rope=options.pre_rope,
            values=options.values,
        )
        writer = CaptureWriter(staging, specs, state_key=work.resume_key, n_batches=len(work.batches))
        images_dir = staging / names.IMAGES_DIR if family.kind == "image" else None
        sums = AggregateSums(facts.n_layers, facts.n_heads, positions)
        done_tokens = sum(int(work.lengths[i]) for b in writer.done for i in work.batches[b])
        if progress:
            progress(done_tokens, n_tokens)
        # Longest batches first: later, smaller tensors fit the freed blocks, so the heap does not
        # grow batch after batch (in ascending order, glibc's heap grew by ~0.9 GB over 150k tokens).
        with heap_kept():
            for batch_id in reversed(range(len(work.batches))):
                if batch_id in writer.done:
                    continue
                members = work.batches[batch_id]
                batch = [work.sequences[i] for i in members]
                slots = [work.slots[i] for i in members]
                rows = BatchRows.of([slot.length for slot in slots], token_start=slots[0].token_start)

                def on_layer(layer: int, call: rec.LayerCall, rows: BatchRows = rows) -> None:
                    if (
                        LayerInfo(call.scaling, call.causal, call.sliding_window, call.softcap)
                        != layer_infos[layer]
                    ):
                        raise ModelError(
                            f"layer {layer} attends differently from batch to batch; describe it in the "
                            f"{family.name!r} row of {TABLE_PATH}"
                        )
                    _write_layer(writer, layer, call, rows)
                    sums.add(layer, call.corner, rows)

                recorder.reset()
                recorder.on_layer = on_layer
                with torch.inference_mode(), rec.recording(recorder):
                    net(**_forward_inputs(loaded, batch, members, images_dir))
                facts.check_all_layers_called(recorder)
                writer.mark_done(batch_id)
                done_tokens += rows.n_tokens
                if progress:
                    progress(done_tokens, n_tokens)
        _add_resumed(sums, writer, work, layer_infos, facts.kv_map)
        for layer in range(facts.n_layers):
            writer.write_whole(names.array_name(layer, "aggregate"), sums.means(layer, work.lengths))
        writer.sync()
        arrays = writer.checksums()
    finally:
        for hook in hooks:
            hook.remove()
        net.set_attn_implementation(original_attention)
        if writer is not None:
            writer.close()
    manifest = Manifest(
        kind=family.kind,
        model=loaded.info,
        corpus=corpus.info,
        n_layers=facts.n_layers,
        n_heads=facts.n_heads,
        n_kv_heads=facts.n_kv_heads,
        head_dim=facts.head_dim,
        kv_map=facts.kv_map,
        layers=tuple(layer_infos[layer] for layer in range(facts.n_layers)),
        n_tokens=n_tokens,
        n_sequences=len(work.sequences),
        context_length=facts.context_length,
        settings={**options.capture_settings(), "identity": work.identity},
        arrays=arrays,
        version=__version__,
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        image_grid=facts.image_grid,
        special_tokens=tuple(getattr(loaded.tokenizer, "all_special_tokens", ()) or ()),
        aggregate_positions=positions,
    )
    publish(staging, run_dir, manifest)
    return run_dir


def _write_layer(writer: CaptureWriter, layer: int, call: rec.LayerCall, rows: BatchRows) -> None:
    """Pack one layer's padded batch into blocks laid out for the writer, and queue them: one per array."""
    tensors = [("q", call.q), ("k", call.k), ("v_norm", call.v_norm)]
    if call.v is not None:
        tensors.append(("v", call.v))
    if call.q_pre_rope is not None and call.k_pre_rope is not None:
        tensors += [("q_pre_rope", call.q_pre_rope), ("k_pre_rope", call.k_pre_rope)]
    for kind, tensor in tensors:
        name = names.array_name(layer, kind)
        block = writer.empty_block(name, rows.token_start, rows.n_tokens)
        rows.tokens(_as_stored(tensor, writer.specs[name].dtype), block)
        writer.write_block(name, block, rows.token_start)


def _as_stored(tensor: Any, dtype: str) -> Any:
    """`tensor` in the dtype its array stores (a model may compute some vectors in another)."""
    import torch

    wanted = getattr(torch, dtype)
    return tensor if tensor.dtype == wanted else tensor.to(wanted)


def _add_resumed(
    sums: AggregateSums,
    writer: CaptureWriter,
    work: Plan,
    layers: dict[int, LayerInfo],
    kv_map: tuple[int, ...],
) -> None:
    """Add to the aggregate the batches an interrupted build finished, from their stored q and k."""
    spans = [(work.slots[i].token_start, work.slots[i].length) for b in writer.done for i in work.batches[b]]
    if not spans:
        return
    for layer, info in layers.items():

        def rows_of(kind: str, start: int, stop: int, layer: int = layer) -> np.ndarray:
            name = names.array_name(layer, kind)
            return as_float(writer.read(name)[:, start:stop], writer.specs[name].dtype)

        sums.add_derived(layer, info, rows_of, kv_map, spans)


def _write_tables(staging: Path, work: Plan, loaded: LoadedModel, facts: ModelFacts) -> None:
    tokens_path, sequences_path = staging / names.TOKENS, staging / names.SEQUENCES
    if isinstance(work.sequences[0], ImageSequence):
        assert facts.image_grid is not None
        tokens, seqs = image_tables(work.sequences, grid=facts.image_grid, prefix=facts.image_prefix)  # type: ignore[arg-type]
    else:
        tokens, seqs = text_tables(work.sequences, loaded.tokenizer)  # type: ignore[arg-type]
    write_table(tokens_path, tokens, TOKEN_SCHEMA)
    write_table(sequences_path, seqs, SEQUENCE_SCHEMA)
