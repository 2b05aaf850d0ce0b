"""The capture attention function, registered with transformers' AttentionInterface.

It computes attention exactly as the models' eager implementation does,

    weights = softmax(softcap(q @ k^T * scaling) + mask)        q [B, H, S, D], k [B, KVH, S, D]

and hands q, k (one set per KV head, in the model's dtype), the value norms and the top-left corner
of the weights (for the aggregate) to the active `Recorder`. Because it is the function that
multiplies q and k, what it records is what the model used: after rotary encoding and any q/k
normalisation. The weights themselves are not kept: they are derived from q and k on demand
(`store/recompute.py`). When a batch's [B, H, S, S] weights would pass the recorder's budget
(a long sequence), they are computed a block of query rows at a time, so memory stays bounded.
Outside a `Recorder` it is plain eager attention.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from attentionviz.capture.architectures import NEUTRAL_KWARGS, TABLE_PATH, Family
from attentionviz.errors import ModelError

log = logging.getLogger(__name__)

ATTENTION_NAME = "attentionviz"

_ACTIVE: contextvars.ContextVar[Recorder | None] = contextvars.ContextVar(
    "attentionviz_recorder", default=None
)


@dataclass
class LayerCall:
    """What one layer's attention call produced for one batch (on the CPU)."""

    q: torch.Tensor  # [B, H, S, D] the model's dtype
    k: torch.Tensor  # [B, KVH, S, D] the model's dtype
    v_norm: torch.Tensor  # [B, KVH, S] float32
    corner: torch.Tensor  # [B, H, a, a] weights of the first a = min(S, recorder.corner) queries and keys
    scaling: float
    causal: bool
    sliding_window: int | None
    softcap: float | None
    q_pre_rope: torch.Tensor | None = None  # [B, H, S, D]
    k_pre_rope: torch.Tensor | None = None  # [B, KVH, S, D]
    v: torch.Tensor | None = (
        None  # [B, KVH, S, D] the model's dtype: value vectors, when the build keeps them (--values)
    )


@dataclass(frozen=True)
class LayerSeen:
    """What the checks after a forward pass need of one layer's call.

    The call itself goes to `Recorder.on_layer` and is dropped: holding every layer's tensors
    until the end of the pass would keep all of a batch's vectors in memory at once.
    """

    n_heads: int
    n_kv_heads: int


@dataclass
class Recorder:
    """Hands one forward pass's attention calls to `on_layer`, and remembers which layers ran."""

    layer_of: dict[int, int]  # id(attention module) -> layer index
    family: Family
    keep_pre_rope: bool = False
    keep_values: bool = False
    corner: int = 0  # positions of the weights' top-left corner handed on (the aggregate's)
    budget: int = 1 << 20  # most B * rows * S weights per head computed at once
    seen: dict[int, LayerSeen] = field(default_factory=dict)
    pre_rope: dict[tuple[int, str], torch.Tensor] = field(default_factory=dict)
    on_layer: Callable[[int, LayerCall], None] | None = None
    #: instead of recording: (layer, output [B, S, H, D]) -> the output the layer passes on
    #: (head importance replaces one head's output by its mean: `analysis/importance.py`)
    edit_output: Callable[[int, torch.Tensor], torch.Tensor] | None = None

    def record(self, module: torch.nn.Module, call: LayerCall) -> None:
        layer = self.layer_of.get(id(module))
        if layer is None:
            raise ModelError(
                f"attention was computed by a module ({type(module).__name__}) outside the layers that "
                f"{TABLE_PATH} names for family {self.family.name!r}; fix its `layers`/`attention` paths"
            )
        if layer in self.seen:
            raise ModelError(
                f"layer {layer} computed attention twice in one forward pass; {TABLE_PATH} must name the "
                "module that runs self-attention once per layer"
            )
        if self.keep_pre_rope:
            call.q_pre_rope = self.pre_rope.pop((layer, "q"))
            call.k_pre_rope = self.pre_rope.pop((layer, "k"))
        self.seen[layer] = LayerSeen(call.q.shape[1], call.k.shape[1])
        if self.on_layer is not None:
            self.on_layer(layer, call)

    def reset(self) -> None:
        self.seen = {}
        self.pre_rope = {}

    def query_rows(self, batch: int, length: int) -> int:
        """How many query rows of a [batch, H, S, S] attention to compute at once."""
        return max(1, self.budget // max(1, batch * length))


@contextmanager
def recording(recorder: Recorder) -> Iterator[Recorder]:
    token = _ACTIVE.set(recorder)
    try:
        yield recorder
    finally:
        _ACTIVE.reset(token)


def _repeat_kv(x: torch.Tensor, groups: int) -> torch.Tensor:
    """[B, KVH, S, D] -> [B, KVH * groups, S, D], each KV head repeated for its query heads."""
    if groups == 1:
        return x
    b, kvh, s, d = x.shape
    return x[:, :, None, :, :].expand(b, kvh, groups, s, d).reshape(b, kvh * groups, s, d)


def capture_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    scaling: float | None = None,
    dropout: float = 0.0,
    softcap: float | None = None,
    sliding_window: int | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Eager attention that records q, k, value norms and the weights' corner.

    Shapes: q [B, H, S, D], k/v [B, KVH, S, D]; returns the output [B, S, H, D] and the weights
    [B, H, S, S] (None when they were computed in blocks of rows).
    """
    recorder = _ACTIVE.get()
    unknown = {name for name, value in kwargs.items() if value is not None and name not in NEUTRAL_KWARGS}
    if unknown:
        raise ModelError(
            f"{type(module).__name__} passes {', '.join(sorted(unknown))} to its attention function, which "
            f"attentionviz does not apply yet; extend capture/recorder.py and the family's row in {TABLE_PATH}"
        )
    if scaling is None:
        scaling = query.shape[-1] ** -0.5
    groups = query.shape[1] // key.shape[1]
    key_states = _repeat_kv(key, groups)
    value_states = _repeat_kv(value, groups)
    mask = None if attention_mask is None else attention_mask[:, :, :, : key_states.shape[-2]]
    batch, _, length, _ = query.shape
    rows = length if recorder is None else recorder.query_rows(batch, length)
    corner = 0 if recorder is None else min(length, recorder.corner)
    weights = None
    outputs, corners = [], []
    for start in range(0, length, rows):  # one block of query rows, unless the budget is passed
        weights = _weights(query[:, :, start : start + rows], key_states, mask, start, scaling, softcap)
        if dropout and module.training:
            weights = torch.nn.functional.dropout(weights, p=dropout, training=True)
        outputs.append(torch.matmul(weights, value_states))  # [B, H, r, D]
        if start < corner:  # (a copy when in blocks, so that each block is freed as the next runs)
            top = weights[:, :, : corner - start, :corner]
            corners.append(top if rows >= length else top.clone())
    output = _joined(outputs, empty=query).transpose(1, 2).contiguous()  # [B, S, H, D]

    if recorder is not None and recorder.edit_output is not None:
        return recorder.edit_output(recorder.layer_of[id(module)], output), (
            weights if rows >= length else None
        )
    if recorder is not None:
        recorder.record(
            module,
            LayerCall(
                q=query.detach().cpu(),
                k=key.detach().cpu(),
                v_norm=_value_norms(value.detach()),
                corner=_joined(corners, empty=query.new_zeros((batch, query.shape[1], 0, 0))).float().cpu(),
                scaling=float(scaling),
                causal=bool(getattr(module, "is_causal", False)),
                sliding_window=sliding_window,
                softcap=softcap,
                v=value.detach().cpu() if recorder.keep_values else None,
            ),
        )
    return output, (weights if rows >= length else None)


def _value_norms(value: torch.Tensor) -> torch.Tensor:
    """[B, KVH, S] float32 L2 norms of [B, KVH, S, D] values, on the CPU.

    There in numpy, on this thread: a small reduction handed to torch's pool waits milliseconds
    for it on a busy machine (5 ms a layer for a MiniLM batch).
    """
    norms: torch.Tensor
    if value.device.type != "cpu":
        norms = torch.linalg.vector_norm(value.float(), dim=-1).cpu()
    else:
        v = value.float().numpy()
        norms = torch.from_numpy(np.sqrt(np.einsum("bksd,bksd->bks", v, v)))
    return norms


def _joined(blocks: list[torch.Tensor], *, empty: torch.Tensor) -> torch.Tensor:
    """The blocks of query rows as one tensor ([B, H, rows, ...]), without a copy when there is one."""
    if not blocks:
        return empty
    return blocks[0] if len(blocks) == 1 else torch.cat(blocks, dim=2)


def _weights(
    query: torch.Tensor,
    key_states: torch.Tensor,
    mask: torch.Tensor | None,
    first_row: int,
    scaling: float,
    softcap: float | None,
) -> torch.Tensor:
    """softmax(softcap(q @ k^T * scaling) + mask) of the query rows first_row..: [B, H, r, S].

    In place where eager allocates: these are the largest tensors of the forward pass, and each
    fresh one costs page faults and a pass over memory (the softmax alone: 20% of a MiniLM batch's
    attention at 128 tokens). Same kernels, so the same values as eager, bit for bit.
    """
    logits = torch.matmul(query, key_states.transpose(2, 3)).mul_(scaling)  # [B, H, r, S]
    if softcap is not None:
        logits.div_(softcap).tanh_().mul_(softcap)
    if mask is not None:
        rows = mask[:, :, first_row : first_row + query.shape[2]]
        logits = logits.add_(rows) if rows.dtype == logits.dtype else logits + rows
    if logits.dtype == torch.float32:  # in place: the same kernel, without a fresh [B, H, r, S] tensor
        return torch.softmax(logits, dim=-1, out=logits)
    return torch.nn.functional.softmax(logits, dim=-1, dtype=torch.float32).to(query.dtype)


def pre_rope_hook(recorder_layer: int, which: str, n_heads: int) -> Callable[..., None]:
    """A forward hook storing a q/k projection's output as [B, heads, S, D] for the active recorder."""

    def hook(_module: torch.nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        recorder = _ACTIVE.get()
        if recorder is None or not recorder.keep_pre_rope:
            return
        b, s = output.shape[0], output.shape[1]
        per_head = output.detach().reshape(b, s, n_heads, -1).transpose(1, 2)  # [B, heads, S, D]
        recorder.pre_rope[(recorder_layer, which)] = per_head.cpu()

    return hook


def register() -> None:
    """Register the capture function (and the eager mask it expects) under the name `attentionviz`."""
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface, eager_mask

    if ATTENTION_NAME not in ALL_MASK_ATTENTION_FUNCTIONS._global_mapping:
        AttentionInterface.register(ATTENTION_NAME, capture_attention)
        AttentionMaskInterface.register(ATTENTION_NAME, eager_mask)
