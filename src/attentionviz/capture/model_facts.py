"""The facts a capture needs about one loaded model: layers, head counts, context, image grid."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from attentionviz.capture.architectures import TABLE_PATH, Family
from attentionviz.capture.recorder import Recorder, pre_rope_hook
from attentionviz.errors import ModelError

UNBOUNDED_CONTEXT = 1 << 20


@dataclass(frozen=True)
class ModelFacts:
    family: Family
    attention_modules: tuple[Any, ...]  # one per layer, in order
    n_heads: int
    n_kv_heads: int
    head_dim: int
    context_length: int
    image_grid: tuple[int, int] | None = None
    image_prefix: int = 0  # special tokens before the patches: [CLS] (+ DeiT's distillation token)

    @property
    def n_layers(self) -> int:
        return len(self.attention_modules)

    @property
    def kv_map(self) -> tuple[int, ...]:
        """Query head -> KV head (heads are grouped contiguously, as in transformers' repeat_kv)."""
        group = self.n_heads // self.n_kv_heads
        return tuple(h // group for h in range(self.n_heads))

    @property
    def layer_of(self) -> dict[int, int]:
        return {id(module): layer for layer, module in enumerate(self.attention_modules)}

    @property
    def seq_len_image(self) -> int:
        assert self.image_grid is not None
        return self.image_prefix + self.image_grid[0] * self.image_grid[1]

    def add_pre_rope_hooks(self) -> list[Any]:
        """Forward hooks on the family's pre-rotary q/k modules; returns their handles."""
        assert self.family.pre_rope is not None
        q_name, k_name = self.family.pre_rope
        handles = []
        for layer, module in enumerate(self.attention_modules):
            for which, name, heads in (("q", q_name, self.n_heads), ("k", k_name, self.n_kv_heads)):
                try:
                    target = module.get_submodule(name)
                except AttributeError as exc:
                    raise ModelError(
                        f"layer {layer} has no submodule {name!r}; fix `pre_rope` of family "
                        f"{self.family.name!r} in {TABLE_PATH}"
                    ) from exc
                handles.append(target.register_forward_hook(pre_rope_hook(layer, which, heads)))
        return handles

    def check_all_layers_called(self, recorder: Recorder) -> None:
        missing = sorted(set(range(self.n_layers)) - set(recorder.seen))
        if missing:
            raise ModelError(
                f"layers {missing} computed attention without transformers' AttentionInterface, so their queries and "
                f"keys cannot be captured; extend the {self.family.name!r} row in {TABLE_PATH} (or capture/recorder.py)"
            )
        first = recorder.seen[0]
        if first.n_heads != self.n_heads or first.n_kv_heads != self.n_kv_heads:
            raise ModelError(
                f"layer 0 produced {first.n_heads} query and {first.n_kv_heads} key heads, but the config says "
                f"{self.n_heads} and {self.n_kv_heads}; fix the {self.family.name!r} row in {TABLE_PATH}"
            )


def _attention_modules(model: Any, family: Family) -> tuple[Any, ...]:
    """One attention module per layer, found through the family's (alternative) paths."""
    for layers_path in family.layers.split("|"):
        for attention_path in family.attention.split("|"):
            try:
                layers = model.get_submodule(layers_path)
                return tuple(layer.get_submodule(attention_path) for layer in layers)
            except AttributeError:
                continue
    raise ModelError(
        f"{type(model).__name__} does not have the layout the {family.name!r} row of {TABLE_PATH} describes "
        f"({family.layers}[*].{family.attention}); fix that row for this model"
    )


def model_facts(model: Any, family: Family) -> ModelFacts:
    config = model.config
    modules = _attention_modules(model, family)
    n_heads = int(config.num_attention_heads)
    n_kv = int(getattr(config, "num_key_value_heads", None) or n_heads)
    head_dim = int(getattr(config, "head_dim", None) or config.hidden_size // n_heads)
    context = int(getattr(config, "max_position_embeddings", 0) or UNBOUNDED_CONTEXT)
    grid = None
    prefix = 0
    if family.kind == "image":
        side = int(config.image_size) // int(config.patch_size)
        grid = (side, side)
        prefix = 2 if config.model_type == "deit" else 1
        context = prefix + side * side
    if n_heads % n_kv:
        raise ModelError(
            f"{n_heads} query heads cannot be grouped over {n_kv} KV heads; check the model config"
        )
    return ModelFacts(family, modules, n_heads, n_kv, head_dim, context, grid, prefix)
