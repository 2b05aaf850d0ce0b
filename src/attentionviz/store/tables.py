"""The two tables of a run, their columns and types, written atomically as Parquet.

tokens.parquet      one row per token; the row number is the global token index
sequences.parquet   one row per sequence (sentence, window of a long text, or image)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from attentionviz.store.atomic import atomic_open

# column -> numpy dtype ("str" for text), in table order
TOKEN_SCHEMA: dict[str, str] = {
    "token": "str",  # display text (the source span, or the special token)
    "piece": "str",  # the tokenizer's own piece
    "token_id": "int32",
    "sequence": "int32",
    "position": "int32",
    "seq_len": "int32",
    "special": "bool",
    "char_start": "int32",  # span in the sequence's text; -1 for special tokens
    "char_end": "int32",
    "window": "int32",  # index of the window, when a long text was split
    "patch_row": "int16",  # image runs; -1 for text and for [CLS]
    "patch_col": "int16",
}
SEQUENCE_SCHEMA: dict[str, str] = {
    "sequence": "int32",
    "document": "int32",
    "window": "int32",
    "n_tokens": "int32",
    "token_start": "int64",  # first global token index
    "text": "str",
    "source": "str",
}
TOKEN_COLUMNS = tuple(TOKEN_SCHEMA)
SEQUENCE_COLUMNS = tuple(SEQUENCE_SCHEMA)


def empty_columns(schema: dict[str, str]) -> dict[str, list[Any]]:
    return {name: [] for name in schema}


def write_table(path: Path, columns: dict[str, Any], schema: dict[str, str]) -> None:
    """Write a Parquet table atomically, with the schema's column order and types."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    missing = set(schema) - set(columns)
    if missing:
        raise ValueError(f"table {path.name} lacks columns {sorted(missing)}")
    arrays = {
        name: pa.array(
            columns[name], type=pa.string() if kind == "str" else pa.from_numpy_dtype(np.dtype(kind))
        )
        for name, kind in schema.items()
    }
    with atomic_open(path, "wb") as handle:
        pq.write_table(pa.table(arrays), handle)
