"""Model + corpus -> run folder: plan, sample, stream batches through the model, publish.

    corpus ──characters──► seeded item order ──tokenize a prefix──► sampled sequences ──► token tables
                                                                                          │
    batches (similar lengths, numbered in batch order) ──► forward with the capture attention
        ──► each layer packed to [heads, tokens, ...] and pwritten in place ──► RUN.partial ──► RUN

Memory stays bounded: sampling tokenizes about the budget, batches are sized by a token and an
attention budget, and each layer's tensors are written (one `pwrite` per head and array) as soon
as it has run, on the forward's own thread: on a busy CPU a writer thread only competes with it.
"""

from __future__ import annotations

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
from attentionviz.store.manifest import LayerInfo, Manifest, load_manifest
from attentionviz.store.tables import SEQUENCE_SCHEMA, TOKEN_SCHEMA, write_table
from attentionviz.store.writer import CaptureWriter, array_shapes, publish

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]  # (tokens done, tokens total)


@dataclass(frozen=True)
class Slot:
    """Where one sequence goes: its first token row, its length and its attention offset."""

    token_start: int
    length: int
    attn_offset: int


@dataclass
class Plan:
    sequences: list[TextSequence] | list[ImageSequence]
    lengths: np.ndarray  # [n_sequences] tokens per sequence
    slots: list[Slot]
    batches: list[list[int]]
    identity: str  # model + corpus + capture settings
    resume_key: str  # identity + batch plan


def _digest(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def plan(loaded: LoadedModel, corpus: Any, facts: ModelFacts, options: BuildOptions) -> Plan:
    """Count, sample and materialise the sequences to capture, and group them into batches."""
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
    # and attention entries (one write per head); `document`/`window` keep the corpus position.
    order = [index for batch in grouped for index in batch]
    selected = [selected[i] for i in order]  # type: ignore[assignment]
    seq_lengths = lengths[order]
    starts = np.concatenate([[0], np.cumsum(seq_lengths)[:-1]])
    offsets = np.concatenate([[0], np.cumsum(seq_lengths**2)[:-1]])
    slots = [Slot(int(a), int(n), int(o)) for a, n, o in zip(starts, seq_lengths, offsets, strict=True)]
    batches, first = [], 0
    for batch in grouped:
        batches.append(list(range(first, first + len(batch))))
        first += len(batch)
    identity = _digest(
        {
            "model": loaded.info.fingerprint or loaded.info.id,
            "corpus": corpus.info.fingerprint,
            "settings": options.capture_settings(),
            "schema": names.SCHEMA_VERSION,
        }
    )
    resume_key = _digest({"identity": identity, "batches": batches})
    return Plan(selected, seq_lengths, slots, batches, identity, resume_key)


def _check_target(run_dir: Path, identity: str) -> bool:
    """True when `run_dir` already holds this exact capture; an error when it holds another."""
    if not (run_dir / names.MANIFEST).exists():
        if run_dir.exists() and run_dir.is_dir() and any(run_dir.iterdir()):
            raise AttentionVizError(
                f"{run_dir} exists and is not an attentionviz run; choose another --out folder"
            )
        if run_dir.exists() and not run_dir.is_dir():
            raise AttentionVizError(f"{run_dir} is a file; choose a folder for --out")
        return False
    existing = load_manifest(run_dir)
    if existing.settings.get("identity") == identity:
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


def _verify_against_eager(loaded: LoadedModel, inputs: dict[str, Any], facts: ModelFacts) -> None:
    """The capture function must give the hidden states the model's own eager attention gives."""
    import torch

    net = loaded.model
    with torch.inference_mode():
        ours = net(**inputs).last_hidden_state  # the capture function, nothing recorded
        net.set_attn_implementation("eager")
        try:
            eager = net(**inputs).last_hidden_state
        finally:
            net.set_attn_implementation(rec.ATTENTION_NAME)
    mask = inputs.get("attention_mask")
    if mask is not None:
        eager, ours = eager[mask.bool()], ours[mask.bool()]
    scale = float(eager.abs().max()) or 1.0
    error = float((eager - ours).abs().max()) / scale
    tolerance = 1e-4 if net.dtype == torch.float32 else 2e-2
    if not error <= tolerance:
        raise ModelError(
            f"capturing {loaded.info.architecture} changes its outputs (relative error {error:.2g} against its eager "
            f"attention): the family {facts.family.name!r} does something the capture function does not; extend "
            f"capture/recorder.py and its row in {TABLE_PATH}"
        )


def _verify_masks(
    recorder: rec.Recorder, layers: dict[int, LayerInfo], length: int, facts: ModelFacts
) -> None:
    """The mask each layer applied must be the one its LayerInfo describes (so attention can be recomputed)."""
    from attentionviz.store.recompute import allowed_mask

    for layer, layer_seen in recorder.seen.items():
        expected = allowed_mask(length, layers[layer])
        allowed = layer_seen.allowed
        seen = np.ones_like(expected) if allowed is None else allowed[:length, :length].numpy()
        if not np.array_equal(seen, expected):
            raise ModelError(
                f"layer {layer} applies an attention mask that is neither full, causal nor sliding-window; "
                f"describe it in the {facts.family.name!r} row of {TABLE_PATH}"
            )


def capture(
    loaded: LoadedModel,
    corpus: Any,
    run_dir: Path,
    options: BuildOptions,
    *,
    progress: Progress | None = None,
) -> Path:
    """Capture `corpus` through `loaded` into `run_dir` (resuming an interrupted build). Returns `run_dir`."""
    import torch

    run_dir = Path(run_dir)
    family = family_for(loaded.model.config.model_type)
    facts = model_facts(loaded.model, family)
    work = plan(loaded, corpus, facts, options)
    if _check_target(run_dir, work.identity):
        log.info("%s already holds this capture", run_dir)
        return run_dir
    staging = names.staging_dir(run_dir)
    staging.mkdir(parents=True, exist_ok=True)
    _write_tables(staging, work, loaded, facts)
    n_tokens = int(work.lengths.sum())
    shapes = array_shapes(
        n_layers=facts.n_layers,
        n_heads=facts.n_heads,
        n_kv_heads=facts.n_kv_heads,
        head_dim=facts.head_dim,
        n_tokens=n_tokens,
        attn_size=int((work.lengths**2).sum()),
        pre_rope=options.pre_rope,
    )
    if options.pre_rope and family.pre_rope is None:
        raise ModelError(
            f"{loaded.info.architecture} has no rotary position encoding, so --pre-rope has nothing to add"
        )
    writer = CaptureWriter(staging, shapes, state_key=work.resume_key, n_batches=len(work.batches))
    images_dir = staging / names.IMAGES_DIR if family.kind == "image" else None
    rec.register()
    net = loaded.model
    recorder = rec.Recorder(layer_of=facts.layer_of, family=family, keep_pre_rope=options.pre_rope)
    hooks = facts.add_pre_rope_hooks() if options.pre_rope else []
    layer_infos: dict[int, LayerInfo] = {}
    done_tokens = sum(int(work.lengths[i]) for b in writer.done for i in work.batches[b])
    if progress:
        progress(done_tokens, n_tokens)
    original_attention = net.config._attn_implementation
    net.set_attn_implementation(rec.ATTENTION_NAME)
    try:
        first = work.batches[0][:2]  # a slice of the first batch is enough to compare against eager attention
        _verify_against_eager(
            loaded, _forward_inputs(loaded, [work.sequences[i] for i in first], first, None), facts
        )
        # Longest batches first: later, smaller tensors fit the freed blocks, so the heap does not
        # grow batch after batch (in ascending order, glibc's heap grew by ~0.9 GB over 150k tokens).
        with heap_kept():
            for batch_id in reversed(range(len(work.batches))):
                members = work.batches[batch_id]
                already = batch_id in writer.done
                if already and not recorder.keep_masks:
                    continue
                batch = [work.sequences[i] for i in members]
                slots = [work.slots[i] for i in members]
                inputs = _forward_inputs(loaded, batch, members, images_dir)

                rows = BatchRows.of(
                    [slot.length for slot in slots],
                    token_start=slots[0].token_start,
                    attn_start=slots[0].attn_offset,
                )

                def on_layer(
                    layer: int, call: rec.LayerCall, rows: BatchRows = rows, write: bool = not already
                ) -> None:
                    layer_infos[layer] = LayerInfo(
                        call.scaling, call.causal, call.sliding_window, call.softcap
                    )
                    if write:
                        _write_layer(writer, layer, call, rows)

                recorder.reset()
                recorder.on_layer = on_layer
                with torch.inference_mode(), rec.recording(recorder):
                    net(**inputs)
                facts.check_all_layers_called(recorder)
                if recorder.keep_masks:  # the first batch run: check its masks once
                    _verify_masks(recorder, layer_infos, slots[0].length, facts)
                    recorder.keep_masks = False
                if not already:
                    writer.mark_done(batch_id)
                    done_tokens += sum(slot.length for slot in slots)
                    if progress:
                        progress(done_tokens, n_tokens)
        writer.sync()
        arrays = writer.checksums()
    finally:
        for hook in hooks:
            hook.remove()
        net.set_attn_implementation(original_attention)
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
    )
    publish(staging, run_dir, manifest)
    return run_dir


def _write_layer(writer: CaptureWriter, layer: int, call: rec.LayerCall, rows: BatchRows) -> None:
    """Pack one layer's padded batch into blocks laid out for the writer, and queue them: one per array."""
    tokens = (rows.tokens, rows.token_start, rows.n_tokens)
    blocks = [("q", call.q, *tokens), ("k", call.k, *tokens), ("v_norm", call.v_norm, *tokens)]
    blocks.append(("attention", call.weights, rows.pairs, rows.attn_start, rows.n_pairs))
    if call.q_pre_rope is not None and call.k_pre_rope is not None:
        blocks += [("q_pre_rope", call.q_pre_rope, *tokens), ("k_pre_rope", call.k_pre_rope, *tokens)]
    for kind, tensor, pack, start, count in blocks:
        name = names.array_name(layer, kind)
        block = writer.empty_block(name, start, count)
        pack(tensor, block)
        writer.write_block(name, block, start)


def _write_tables(staging: Path, work: Plan, loaded: LoadedModel, facts: ModelFacts) -> None:
    tokens_path, sequences_path = staging / names.TOKENS, staging / names.SEQUENCES
    if isinstance(work.sequences[0], ImageSequence):
        assert facts.image_grid is not None
        tokens, seqs = image_tables(work.sequences, grid=facts.image_grid, prefix=facts.image_prefix)  # type: ignore[arg-type]
    else:
        tokens, seqs = text_tables(work.sequences, loaded.tokenizer)  # type: ignore[arg-type]
    write_table(tokens_path, tokens, TOKEN_SCHEMA)
    write_table(sequences_path, seqs, SEQUENCE_SCHEMA)
