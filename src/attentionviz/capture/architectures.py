"""What transformers' AttentionInterface cannot tell us, per model family, written as data.

The capture function sees every query and key exactly where the model computes its logits. What
it cannot see is which layer called it, which submodule gives the vectors *before* rotary position
encoding (for the opt-in `--pre-rope` capture), and which families add something of their own on
top of softmax(q.k * scaling + mask). Those facts live here, one row per family, not in branches.

To support a new family: add a row whose `model_types` holds its `config.model_type`, with the
dotted path to its list of layers (inside the base model `AutoModel` returns) and the path to the
module that calls the attention interface inside one layer. Paths written "a|b" are tried in turn
(transformers renames modules between releases).
"""

from __future__ import annotations

from dataclasses import dataclass

from attentionviz.errors import ModelError

TABLE_PATH = "attentionviz/capture/architectures.py"


@dataclass(frozen=True)
class Family:
    name: str
    model_types: tuple[str, ...]
    layers: str  # dotted path from the base model to the ModuleList of layers ("a|b": alternatives)
    attention: str  # dotted path inside one layer to the module that calls the attention interface ("a|b")
    pre_rope: tuple[str, str] | None = (
        None  # submodules (inside `attention`) whose outputs are pre-rotary q, k
    )
    kind: str = "text"  # "text" | "image"
    # kwargs of the attention call that change the maths, all of which the capture function applies
    handled_kwargs: tuple[str, ...] = ()


FAMILIES: tuple[Family, ...] = (
    Family(
        "bert", ("bert", "roberta", "xlm-roberta", "electra", "camembert"), "encoder.layer", "attention.self"
    ),
    Family("distilbert", ("distilbert",), "transformer.layer", "attention"),
    Family("gpt2", ("gpt2",), "h", "attn"),
    Family(
        "llama",
        ("llama", "mistral", "qwen2", "gemma", "phi3", "olmo", "smollm3"),
        "layers",
        "self_attn",
        pre_rope=("q_proj", "k_proj"),
        handled_kwargs=("sliding_window",),
    ),
    Family(
        "qk-norm",  # q/k RMS norm per head before rotary
        ("qwen3", "olmo2", "gemma3_text"),
        "layers",
        "self_attn",
        pre_rope=("q_norm", "k_norm"),
        handled_kwargs=("sliding_window", "softcap"),
    ),
    Family(
        "gemma2",
        ("gemma2",),
        "layers",
        "self_attn",
        pre_rope=("q_proj", "k_proj"),
        handled_kwargs=("sliding_window", "softcap"),
    ),
    Family("vit", ("vit", "deit"), "layers|encoder.layer", "attention|attention.attention", kind="image"),
)

# Attention-call kwargs that never change the logits (bookkeeping, masks already applied, dropout off).
NEUTRAL_KWARGS = frozenset(
    {
        "dropout",
        "scaling",
        "position_ids",
        "output_attentions",
        "use_cache",
        "cache_position",
        "is_causal",
        "head_mask",
        "return_dict",
        "token_type_ids",
        "layer_idx",
    }
)


def family_for(model_type: str) -> Family:
    """The table row for `config.model_type`, or a one-line error naming the table to extend."""
    for family in FAMILIES:
        if model_type in family.model_types:
            return family
    known = sorted(t for f in FAMILIES for t in f.model_types)
    raise ModelError(
        f"architecture {model_type!r} is not supported yet; add a row for it to {TABLE_PATH} "
        f"(supported: {', '.join(known)})"
    )
