"""The token and sequence tables, columnar, and the level-of-detail order every head's rows follow."""

from __future__ import annotations

import numpy as np

from attentionviz.readmodel.frames import Frame
from attentionviz.readmodel.models import LodOrderMeta, SequencesMeta, TokensMeta
from attentionviz.store.lod import lod_order
from attentionviz.store.reader import Run

__all__ = ["lod_order", "lod_order_frame", "sequences_frame", "tokens_frame"]


def tokens_frame(run: Run) -> bytes:
    """The token table, columnar: the token text dictionary-encoded, the rest as int arrays."""
    table = run.tokens
    codes, values = _dictionary(table["token"].astype(str).to_numpy())
    frame = Frame(meta=TokensMeta(n_tokens=len(table)))
    frame.add("token", codes)
    frame.add_strings("token.values", values)
    for column, dtype in (
        ("sequence", np.int32),
        ("position", np.int32),
        ("seq_len", np.int32),
        ("char_start", np.int32),
        ("char_end", np.int32),
        ("patch_row", np.int16),
        ("patch_col", np.int16),
    ):
        if column in table:
            frame.add(column, table[column].to_numpy(dtype=dtype))
    frame.add("special", table["special"].to_numpy(dtype=np.uint8))
    return frame.encode()


def sequences_frame(run: Run) -> bytes:
    table = run.sequences
    frame = Frame(meta=SequencesMeta(n_sequences=len(table)))
    frame.add_strings("text", table["text"].astype(str).tolist())
    frame.add("n_tokens", table["n_tokens"].to_numpy(dtype=np.int32))
    frame.add("token_start", table["token_start"].to_numpy(dtype=np.int64))
    frame.add("document", table["document"].to_numpy(dtype=np.int32))
    return frame.encode()


def lod_order_frame(run: Run) -> bytes:
    frame = Frame(meta=LodOrderMeta(n_tokens=run.info.n_tokens))
    frame.add("order", lod_order(run.info.n_tokens))
    return frame.encode()


def _dictionary(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    uniques, codes = np.unique(values, return_inverse=True)
    return np.asarray(codes, dtype=np.uint32), [str(v) for v in uniques]
