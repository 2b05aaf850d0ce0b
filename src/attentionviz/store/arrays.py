"""The arrays a capture writes, as data: each kind's shape (from the run's sizes) and stored dtype.

    kind        shape                                  dtype
    q           [n_heads,    n_tokens, head_dim]       the model's: float32, float16 or bfloat16
    k           [n_kv_heads, n_tokens, head_dim]       the model's
    q_pre_rope  [n_heads,    n_tokens, head_dim]       the model's (opt-in, `--pre-rope`)
    k_pre_rope  [n_kv_heads, n_tokens, head_dim]       the model's (opt-in)
    v_norm      [n_kv_heads, n_tokens]                 float32
    v           [n_kv_heads, n_tokens, head_dim]       the model's (opt-in, `--values`): value vectors
    aggregate   [n_heads, positions, positions]        float32: mean attention per position pair

Every array grows linearly with the tokens of a run (the aggregate is bounded by its positions):
attention itself is derived from q and k (`store/recompute.py`), never stored. The writer, the
reader and `verify` all read this table, so a new captured array is one row here (and, in the
capture, one block per layer packed in `capture/pipeline._write_layer`).

NumPy has no bfloat16, so a bfloat16 array is stored as its raw 16-bit patterns (`.npy` dtype
`<u2`, the manifest says "bfloat16"): the upper half of the float32 with the same value, so
`as_float` widens it exactly, without rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from attentionviz.store import names

# dtype name (as the manifest records it) -> how the .npy file holds it
STORED: dict[str, np.dtype[Any]] = {
    "float32": np.dtype("<f4"),
    "float16": np.dtype("<f2"),
    "bfloat16": np.dtype("<u2"),  # raw bit patterns (numpy has no bfloat16)
}


AGGREGATE_POSITIONS = 256  # the aggregate covers positions 0..255; later ones are not aggregated


def aggregate_positions(longest: int) -> int:
    """The positions the aggregate of a run whose longest sequence has `longest` tokens covers."""
    return min(longest, AGGREGATE_POSITIONS)


@dataclass(frozen=True)
class Sizes:
    """The sizes an array's shape follows."""

    n_heads: int
    n_kv_heads: int
    head_dim: int
    n_tokens: int
    positions: int  # of the aggregate


@dataclass(frozen=True)
class Kind:
    name: str
    shape: Callable[[Sizes], tuple[int, ...]]
    model_dtype: bool  # stored in the model's dtype (else float32)
    opt_in: str = ""  # written only when asked for: "pre_rope" (`--pre-rope`), "values" (`--values`)
    streamed: bool = True  # rows written batch by batch (else written whole, after the last batch)


_KINDS = {
    "q": Kind("q", lambda s: (s.n_heads, s.n_tokens, s.head_dim), model_dtype=True),
    "k": Kind("k", lambda s: (s.n_kv_heads, s.n_tokens, s.head_dim), model_dtype=True),
    "q_pre_rope": Kind(
        "q_pre_rope", lambda s: (s.n_heads, s.n_tokens, s.head_dim), model_dtype=True, opt_in="pre_rope"
    ),
    "k_pre_rope": Kind(
        "k_pre_rope", lambda s: (s.n_kv_heads, s.n_tokens, s.head_dim), model_dtype=True, opt_in="pre_rope"
    ),
    "v_norm": Kind("v_norm", lambda s: (s.n_kv_heads, s.n_tokens), model_dtype=False),
    "v": Kind("v", lambda s: (s.n_kv_heads, s.n_tokens, s.head_dim), model_dtype=True, opt_in="values"),
    "aggregate": Kind(
        "aggregate", lambda s: (s.n_heads, s.positions, s.positions), model_dtype=False, streamed=False
    ),
}
KINDS: tuple[Kind, ...] = tuple(_KINDS[name] for name in names.CAPTURED_ARRAYS)  # the names' order
BY_NAME = {kind.name: kind for kind in KINDS}


@dataclass(frozen=True)
class ArraySpec:
    shape: tuple[int, ...]
    dtype: str  # a key of STORED

    @property
    def stored(self) -> np.dtype[Any]:
        return STORED[self.dtype]


def capture_arrays(
    n_layers: int, sizes: Sizes, *, dtype: str, pre_rope: bool, values: bool = False
) -> dict[str, ArraySpec]:
    """Dotted name -> shape and dtype of every array a capture of these sizes writes."""
    if dtype not in STORED:
        raise ValueError(f"cannot store {dtype} arrays; expected one of {', '.join(STORED)}")
    wanted = {"": True, "pre_rope": pre_rope, "values": values}
    return {
        names.array_name(layer, kind.name): ArraySpec(
            kind.shape(sizes), dtype if kind.model_dtype else "float32"
        )
        for layer in range(n_layers)
        for kind in KINDS
        if wanted[kind.opt_in]
    }


def kind_of(name: str) -> str:
    """`layers.3.q` -> `q`."""
    return name.rsplit(".", 1)[-1]


def as_float(values: np.ndarray, dtype: str) -> np.ndarray:
    """Stored values as floats numpy computes with: bfloat16 bit patterns widened (exactly) to float32."""
    if dtype == "bfloat16":
        widened: np.ndarray = (np.asarray(values, dtype=np.uint16).astype(np.uint32) << 16).view(np.float32)
        return widened
    return np.asarray(values)
