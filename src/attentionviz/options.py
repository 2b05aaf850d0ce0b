"""One options type shared by the CLI and the Python API."""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any

from attentionviz.layouts import DIMS

MIN_WINDOW = 8  # the shortest window (--max-length): special tokens plus some text


@dataclass(frozen=True)
class BuildOptions:
    """How a corpus is read, sampled and captured. Every field is a `build` CLI option of the same name."""

    # corpus
    split: str = "sentence"  # text: "sentence" | "line" | "paragraph"
    text_column: str | None = None  # tables: the column holding the text
    corpus_format: str | None = None  # override detection by file suffix
    max_tokens: int | None = 5000  # None: the whole corpus
    max_sequences: int | None = None
    seed: int = 0
    max_length: int | None = None  # window length; default: the model's context
    # model
    device: str = "cpu"
    device_map: str | None = None  # "auto": spread a model larger than one device (accelerate)
    max_memory: str | None = None  # with device_map: "0=20GiB,cpu=60GiB"
    offload_folder: str | None = None  # with device_map: where weights that fit nowhere go
    dtype: str = "auto"
    pre_rope: bool = False  # also keep queries and keys before rotary encoding
    values: bool = False  # also keep every KV head's value vectors (and lay them out)
    probes: tuple[str, ...] = ("induction",)  # diagnostic sequences captured beside a text corpus
    batch_tokens: int = 8192  # padded tokens per forward batch
    max_batch: int = 64
    attention_budget: int = 1 << 20  # max B * S * S attention entries per head in one batch
    # embedding (after capture)
    layouts: tuple[str, ...] = ("all",)  # methods or keys ("tsne.3d"); "all": every method; (): none
    dims: tuple[int, ...] = DIMS
    workers: int | None = None
    cluster: str | None = None
    importance: bool = False  # head importance by mean ablation (needs the model's LM head)
    importance_tokens: int = 512  # corpus tokens the importance loss is measured on
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        """Refuse numbers that cannot work, with the option to change (not a traceback later)."""
        from attentionviz.errors import AttentionVizError

        least = {
            "max_tokens": 1,
            "max_sequences": 1,
            "max_length": MIN_WINDOW,
            "workers": 1,
            "importance_tokens": 16,
        }
        for name, low in least.items():
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < low):
                flag = name.replace("_", "-")
                raise AttentionVizError(f"--{flag} must be a whole number of at least {low}, not {value!r}")
        if self.batch_tokens < 1 or self.max_batch < 1:
            raise AttentionVizError("--batch-tokens must be at least 1")
        # checked before the capture, not after it: a typo should not cost a whole capture first
        # (`api.build` checks the layout names against the reducer registry, too)
        bad_dims = [d for d in self.dims if d not in DIMS]
        if bad_dims:
            raise AttentionVizError(f"layouts are 2D or 3D, not {bad_dims[0]}D; pass --dims 2,3")

    def capture_settings(self) -> dict[str, Any]:
        """The settings that change what a capture holds (they decide whether a build can resume)."""
        keys = (
            "split",
            "text_column",
            "corpus_format",
            "max_tokens",
            "max_sequences",
            "seed",
            "max_length",
            "dtype",
            "pre_rope",
        )
        settings = {key: getattr(self, key) for key in keys}
        if self.values:  # only when set, so runs built before the option keep their identity
            settings["values"] = True
        return settings

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in fields(cls)]

    def with_settings(self, **settings: Any) -> BuildOptions:
        """These options with some fields changed by name (lists accepted where a field holds a tuple);
        an unknown name is a one-line error that lists the valid ones."""
        from attentionviz.errors import AttentionVizError

        unknown = set(settings) - set(self.field_names())
        if unknown:
            raise AttentionVizError(
                f"unknown build option(s) {', '.join(sorted(unknown))}; valid: {', '.join(self.field_names())}"
            )
        values: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in settings.items()}
        return replace(self, **values)
