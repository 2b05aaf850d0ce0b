"""The token table and the sequence table of a run (see docs/internals.md for the columns)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from attentionviz.capture.sequences import ImageSequence, TextSequence
from attentionviz.store.tables import SEQUENCE_SCHEMA, TOKEN_SCHEMA, empty_columns


def text_tables(sequences: list[TextSequence], tokenizer: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """Column dicts for tokens.parquet and sequences.parquet of a text run."""
    tokens = empty_columns(TOKEN_SCHEMA)
    seqs = empty_columns(SEQUENCE_SCHEMA)
    token_start = 0
    for index, seq in enumerate(sequences):
        n = len(seq.input_ids)
        ids = seq.input_ids.tolist()
        pieces = tokenizer.convert_ids_to_tokens(ids)
        for position, (token_id, piece, (start, end), special) in enumerate(
            zip(ids, pieces, seq.offsets.tolist(), seq.special.tolist(), strict=True)
        ):
            shown = seq.text[start:end].strip() if start >= 0 and end > start else ""
            tokens["token"].append(shown or str(piece))
            tokens["piece"].append(str(piece))
            tokens["token_id"].append(token_id)
            tokens["sequence"].append(index)
            tokens["position"].append(position)
            tokens["seq_len"].append(n)
            tokens["special"].append(special)
            tokens["char_start"].append(start)
            tokens["char_end"].append(end)
            tokens["window"].append(seq.key.window)
        _add_sequence(seqs, index, seq.document, seq.key.window, n, token_start, seq.text, seq.source)
        token_start += n
    tokens["patch_row"] = [-1] * token_start
    tokens["patch_col"] = [-1] * token_start
    return tokens, seqs


def image_tables(
    sequences: list[ImageSequence], *, grid: tuple[int, int], prefix: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tables of an image run: `prefix` special tokens ([CLS], DeiT's distillation token), then patches row-major."""
    rows, cols = grid
    n = prefix + rows * cols
    count = len(sequences)
    position = np.tile(np.arange(n, dtype=np.int32), count)
    patch = position - prefix
    is_patch = patch >= 0
    prefix_names = ["[CLS]", "[DIST]"][:prefix]
    labels = prefix_names + [f"({r},{c})" for r in range(rows) for c in range(cols)]
    tokens: dict[str, Any] = {
        "token": labels * count,
        "piece": labels * count,
        "token_id": np.full(n * count, -1, dtype=np.int32),
        "sequence": np.repeat(np.arange(count, dtype=np.int32), n),
        "position": position,
        "seq_len": np.full(n * count, n, dtype=np.int32),
        "special": ~is_patch,
        "char_start": np.full(n * count, -1, dtype=np.int32),
        "char_end": np.full(n * count, -1, dtype=np.int32),
        "window": np.zeros(n * count, dtype=np.int32),
        "patch_row": np.where(is_patch, patch // cols, -1).astype(np.int16),
        "patch_col": np.where(is_patch, patch % cols, -1).astype(np.int16),
    }
    seqs = empty_columns(SEQUENCE_SCHEMA)
    for index, seq in enumerate(sequences):
        _add_sequence(seqs, index, seq.document, 0, n, index * n, Path(seq.image_path).name, seq.source)
    return tokens, seqs


def _add_sequence(
    seqs: dict[str, list[Any]],
    index: int,
    document: int,
    window: int,
    n: int,
    token_start: int,
    text: str,
    source: str,
) -> None:
    for key, value in (
        ("sequence", index),
        ("document", document),
        ("window", window),
        ("n_tokens", n),
        ("token_start", token_start),
        ("text", text),
        ("source", source),
    ):
        seqs[key].append(value)
