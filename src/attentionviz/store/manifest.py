"""The run manifest: what was captured, from which model and corpus, with which settings.

`manifest.json` is written last, atomically, when a build completes; a folder without one is
not a run. `schema_version` guards readers against folders from a newer attentionviz, and sends
those of an older schema to `attentionviz upgrade RUN` (`store/upgrade.py`).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from attentionviz.errors import AttentionVizError, OlderRun, RunNotFound
from attentionviz.store import names
from attentionviz.store.atomic import read_json, write_json


@dataclass(frozen=True)
class ModelInfo:
    id: str  # what the user passed: hub id, folder, .gguf file or alias
    source: str  # "hub" | "folder" | "gguf" | "alias" | "in-memory"
    architecture: str  # e.g. "BertModel"
    family: str  # the row of capture/architectures.py that was used
    fingerprint: str  # hub revision, or sha256 of the weights
    dtype: str


@dataclass(frozen=True)
class CorpusInfo:
    source: str
    format: str  # "text" | "jsonl" | "csv" | "parquet" | "hf-dataset" | "images" | "in-memory"
    fingerprint: str  # sha256 of the bytes read
    split: str | None = None  # "sentence" | "line" | "paragraph" for text
    text_column: str | None = None
    n_documents: int = 0


@dataclass(frozen=True)
class LayerInfo:
    """What the attention function was told, per layer: with q and k, all it takes to derive its
    attention exactly (`store/recompute.py`)."""

    scaling: float
    causal: bool
    sliding_window: int | None = None
    softcap: float | None = None


@dataclass(frozen=True)
class Manifest:
    kind: str  # "text" | "image"
    model: ModelInfo
    corpus: CorpusInfo
    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    kv_map: tuple[int, ...]  # query head -> KV head
    layers: tuple[LayerInfo, ...]
    n_tokens: int
    n_sequences: int
    context_length: int
    settings: dict[str, Any]
    arrays: dict[str, dict[str, Any]]  # dotted name -> {"shape": [...], "dtype": "float32", "sha256": ...}
    version: str
    created: str
    schema_version: int = names.SCHEMA_VERSION
    image_grid: tuple[int, int] | None = None  # patch rows, cols for image runs
    special_tokens: tuple[str, ...] = field(default_factory=tuple)
    aggregate_positions: int = 0  # the aggregate covers positions 0..aggregate_positions-1

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Manifest:
        data = dict(data)
        data["model"] = ModelInfo(**data["model"])
        data["corpus"] = CorpusInfo(**data["corpus"])
        data["layers"] = tuple(LayerInfo(**layer) for layer in data["layers"])
        data["kv_map"] = tuple(data["kv_map"])
        data["special_tokens"] = tuple(data.get("special_tokens", ()))
        grid = data.get("image_grid")
        data["image_grid"] = tuple(grid) if grid is not None else None
        return cls(**data)


def save_manifest(run_dir: Path, manifest: Manifest) -> None:
    write_json(run_dir / names.MANIFEST, manifest.to_json())


def load_manifest(run_dir: Path, *, older: bool = False) -> Manifest:
    """The run's manifest; one of an older schema is an error naming `attentionviz upgrade`, unless `older`."""
    path = run_dir / names.MANIFEST
    if not path.exists():
        if names.staging_dir(run_dir).exists():
            raise RunNotFound(
                f"run {run_dir} is not finished; rerun the same `attentionviz build` command to resume it"
            )
        if not run_dir.exists():
            raise RunNotFound(
                f"run folder {run_dir} does not exist; build one with `attentionviz build MODEL CORPUS -o {run_dir}`"
            )
        raise RunNotFound(
            f"{run_dir} is not an attentionviz run (no {names.MANIFEST}); point at a folder made by `attentionviz build`"
        )
    try:
        data = read_json(path)
    except (OSError, ValueError) as exc:
        raise AttentionVizError(
            f"{path} is unreadable ({exc}); rebuild the run with `attentionviz build`"
        ) from exc
    if not isinstance(data, dict):
        raise AttentionVizError(f"{path} is not a manifest; rebuild the run with `attentionviz build`")
    version = data.get("schema_version")
    if not isinstance(version, int):
        raise AttentionVizError(f"{path} has no schema_version; rebuild the run with `attentionviz build`")
    if version > names.SCHEMA_VERSION:
        raise AttentionVizError(
            f"run {run_dir} uses schema {version}, newer than this attentionviz understands "
            f"({names.SCHEMA_VERSION}); upgrade with `pip install -U attentionviz`"
        )
    if version < names.SCHEMA_VERSION and not older:
        raise OlderRun(
            f"run {run_dir} was written by an older attentionviz (schema {version}, which stored every "
            f"sequence's attention); convert it in place with `attentionviz upgrade {run_dir}`"
        )
    try:
        return Manifest.from_json(data)
    except (TypeError, KeyError, ValueError) as exc:
        raise AttentionVizError(
            f"{path} is damaged ({exc}); rebuild the run with `attentionviz build`"
        ) from exc
