"""The token and sequence tables, columnar, and the level-of-detail order every head's rows follow."""

from __future__ import annotations

import functools

import numpy as np

from attentionviz.readmodel.frames import Frame
from attentionviz.readmodel.models import LodOrderMeta, SequencesMeta, TokensMeta
from attentionviz.store.reader import Run


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


def lod_order(n_tokens: int) -> np.ndarray:
    """[2N] uint32: layout rows in level-of-detail order; any prefix is a uniform sample of tokens.

    Tokens are shuffled with a fixed seed and each token's query row (t) is followed by its key
    row (t + N), so a prefix holds both copies of the same tokens. The same for every head.
    """
    return _lod_order(n_tokens).copy()


@functools.lru_cache(maxsize=8)
def _lod_order(n_tokens: int) -> np.ndarray:
    tokens = np.random.default_rng(0).permutation(n_tokens).astype(np.uint32)
    return np.stack([tokens, tokens + n_tokens], axis=1).reshape(-1)  # [N, 2] -> [2N]


@functools.lru_cache(maxsize=8)
def _lod_rank(n_tokens: int) -> np.ndarray:
    """[2N] position of each layout row in the LOD order (the inverse permutation)."""
    return np.argsort(_lod_order(n_tokens))


def lod_order_frame(run: Run) -> bytes:
    frame = Frame(meta=LodOrderMeta(n_tokens=run.info.n_tokens))
    frame.add("order", lod_order(run.info.n_tokens))
    return frame.encode()


def _dictionary(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    uniques, codes = np.unique(values, return_inverse=True)
    return np.asarray(codes, dtype=np.uint32), [str(v) for v in uniques]
