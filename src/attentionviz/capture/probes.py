"""Diagnostic probe sequences, captured beside a text corpus: `RUN/probes/` is a run of its own.

    capture_probes(loaded, run_dir, options)   # after the corpus capture: RUN/probes/

A probe is BOS (or CLS, or whatever special tokens the tokenizer puts first), then R, then R
again, where R is ~50 distinct random vocabulary tokens drawn with the build's seed (and whatever
the tokenizer puts last, e.g. [SEP]). On it, a head's attention from each token of the second
copy to the token after that token's first occurrence is its induction score, and to the first
occurrence itself its duplicate-token score (`attentionviz.analysis.probe_scores`).

The probes are captured exactly like the corpus, by the same `capture` function, into the
nested run folder `RUN/probes/` (its token table has a `source` of `probe:induction` on every
sequence). Keeping them in their own folder leaves the corpus run as it was: its token rows are
its layout rows, so probes never enter layouts, search, token statistics or the corpus metrics,
while the Sentence View and `run.probes.head(l, h).attention(seq)` read them like any sequence.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import numpy as np

from attentionviz.capture.sequences import SequenceKey, TextSequence, encode
from attentionviz.errors import AttentionVizError
from attentionviz.options import BuildOptions
from attentionviz.store import names
from attentionviz.store.manifest import CorpusInfo

log = logging.getLogger(__name__)

PROBES_DIR = names.PROBES_DIR
KINDS = ("induction",)
SEGMENT = 50  # random tokens per copy
COUNT = 4  # probe sequences per kind
MARGIN = 4  # positions left unused at the end of the context
SOURCE_PREFIX = "probe:"
_PLACEHOLDER = re.compile(r"^(\[.*\]|<.*>|<\|.*\|>)$")  # [unused12], <0x0A>, <|endoftext|>: not words


def probe_kinds(spec: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    """('induction',) from "induction", "all", "none" or a list; a one-line error for an unknown kind."""
    if spec is None:
        return ()
    items = [spec] if isinstance(spec, str) else list(spec)
    kinds: list[str] = []
    for item in items:
        for part in str(item).split(","):
            name = part.strip().lower()
            if name in ("", "none"):
                continue
            chosen = KINDS if name == "all" else (name,)
            for kind in chosen:
                if kind not in KINDS:
                    raise AttentionVizError(
                        f"unknown probe {kind!r}; choose from {', '.join(KINDS)}, all or none"
                    )
                if kind not in kinds:
                    kinds.append(kind)
    return tuple(kinds)


@dataclasses.dataclass(frozen=True)
class ProbeCorpus:
    """What `capture` needs of a corpus, for probe sequences built from token ids (not text)."""

    info: CorpusInfo
    kind: str = "text"


def _framing(tokenizer: Any) -> tuple[list[int], list[int]]:
    """The special token ids the tokenizer puts before and after a text; BOS (or CLS) when none."""
    encoding = encode(tokenizer, ["probe"])[0]
    ids = list(encoding["input_ids"])
    special = [bool(s) for s in encoding["special_tokens_mask"]]
    first = next((i for i, s in enumerate(special) if not s), len(ids))
    last = len(ids) - next((i for i, s in enumerate(reversed(special)) if not s), 0)
    prefix, suffix = ids[:first], ids[last:]
    if not prefix:
        start = getattr(tokenizer, "bos_token_id", None)
        start = start if start is not None else getattr(tokenizer, "cls_token_id", None)
        prefix = [int(start)] if start is not None else []
    return [int(i) for i in prefix], [int(i) for i in suffix]


def _candidates(tokenizer: Any) -> np.ndarray:
    """Token ids a probe may draw: not special, not a placeholder like [unused3] or <0x0A>."""
    special = set(getattr(tokenizer, "all_special_ids", ()) or ())
    size = len(tokenizer)
    pieces = tokenizer.convert_ids_to_tokens(list(range(size)))
    keep = [
        i
        for i, piece in enumerate(pieces)
        if i not in special and piece and not _PLACEHOLDER.match(str(piece))
    ]
    return np.asarray(keep, dtype=np.int64)


def probe_sequences(
    tokenizer: Any, *, context: int, seed: int, kinds: tuple[str, ...] = KINDS
) -> list[TextSequence]:
    """The probe sequences of `kinds`, seeded: prefix + R + R + suffix, R of up to SEGMENT tokens."""
    prefix, suffix = _framing(tokenizer)
    # a few positions short of the context: RoBERTa-style models number positions from 2
    segment = min(SEGMENT, (context - MARGIN - len(prefix) - len(suffix)) // 2)
    candidates = _candidates(tokenizer)
    if segment < 4 or len(candidates) < segment:
        raise AttentionVizError(
            f"this model's context ({context} tokens) or vocabulary is too small for probes; pass --probes none"
        )
    rng = np.random.default_rng([seed, 17])
    out: list[TextSequence] = []
    for kind in kinds:
        for index in range(COUNT):
            repeated = rng.choice(candidates, size=segment, replace=False)
            ids = np.concatenate([prefix, repeated, repeated, suffix]).astype(np.int32)
            out.append(
                _sequence(tokenizer, ids, len(prefix), len(suffix), item=len(out), kind=kind, index=index)
            )
    return out


def _sequence(
    tokenizer: Any, ids: np.ndarray, n_prefix: int, n_suffix: int, *, item: int, kind: str, index: int
) -> TextSequence:
    """One probe as a sequence: its text is the tokens' own strings joined by spaces."""
    words = [tokenizer.decode([int(i)]).strip() or str(tokenizer.convert_ids_to_tokens(int(i))) for i in ids]
    special = np.zeros(len(ids), dtype=bool)
    special[:n_prefix] = True
    special[len(ids) - n_suffix :] = True
    offsets = np.full((len(ids), 2), -1, dtype=np.int32)
    text = ""
    for position, shown in enumerate(words):
        if special[position]:
            continue
        if text:
            text += " "
        offsets[position] = (len(text), len(text) + len(shown))
        text += shown
    return TextSequence(
        SequenceKey(item, 0), item, f"{SOURCE_PREFIX}{kind}:{index}", text, ids, offsets, special
    )


def capture_probes(loaded: Any, run_dir: Path, options: BuildOptions, *, progress: Any = None) -> Path | None:
    """Capture the probe sequences of `options.probes` into `run_dir/probes` (resuming, like a
    build); None for image runs or when no probe is asked for."""
    from attentionviz.capture.architectures import family_for
    from attentionviz.capture.model_facts import model_facts
    from attentionviz.capture.pipeline import capture

    kinds = probe_kinds(options.probes)
    if not kinds or loaded.tokenizer is None:
        return None
    facts = model_facts(loaded.model, family_for(loaded.model.config.model_type))
    limit = (
        facts.context_length if options.max_length is None else min(options.max_length, facts.context_length)
    )
    sequences = probe_sequences(loaded.tokenizer, context=limit, seed=options.seed, kinds=kinds)
    digest = hashlib.sha256(np.concatenate([s.input_ids for s in sequences]).tobytes()).hexdigest()
    corpus = ProbeCorpus(
        CorpusInfo(
            source=f"probes:{','.join(kinds)}",
            format="probes",
            fingerprint=digest,
            n_documents=len(sequences),
        )
    )
    settings = dataclasses.replace(options, probes=(), max_tokens=None, max_sequences=None, values=False)
    log.info("capturing %d probe sequences into %s", len(sequences), run_dir / PROBES_DIR)
    return capture(loaded, corpus, run_dir / PROBES_DIR, settings, progress=progress, sequences=sequences)
