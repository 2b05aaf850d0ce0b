"""Stable dotted names for everything a run folder holds.

The same names are used in the store, the HTTP routes and the frontend (as in TransformerLens):

    layers.3.q            post-rotary queries of layer 3          [n_heads, n_tokens, head_dim]
    layers.3.k            post-rotary keys, one set per KV head   [n_kv_heads, n_tokens, head_dim]
    layers.3.q_pre_rope   queries before rotary encoding (opt-in) [n_heads, n_tokens, head_dim]
    layers.3.k_pre_rope   keys before rotary encoding (opt-in)    [n_kv_heads, n_tokens, head_dim]
    layers.3.v_norm       L2 norm of each value vector            [n_kv_heads, n_tokens]
    layers.3.v            value vectors (opt-in, `--values`)      [n_kv_heads, n_tokens, head_dim]
    layers.3.aggregate    mean attention per position pair        [n_heads, positions, positions]
    layers.3.heads.5      one head's derived outputs (layouts, metrics, fidelity)

(`store/arrays.py` gives each kind's shape and dtype.) A run of schema 1 also stored
`layers.3.attention`, every sequence's attention flattened, [n_heads, sum(len_s ** 2)]: attention is
now derived from q and k, and `attentionviz upgrade RUN` converts such a run.
"""

from __future__ import annotations

from pathlib import Path

SCHEMA_VERSION = 2  # 2: attention derived from q and k, not stored; q and k in the model's dtype

MANIFEST = "manifest.json"
TOKENS = "tokens.parquet"
SEQUENCES = "sequences.parquet"
CAPTURE_DIR = "capture"
HEADS_DIR = "heads"
IMAGES_DIR = "images"
BUILD_STATE = "build-state.json"
PROBES_DIR = "probes"  # a text run's probe sequences: a run folder of its own inside the run

CAPTURED_ARRAYS = ("q", "k", "q_pre_rope", "k_pre_rope", "v_norm", "v", "aggregate")
LEGACY_ARRAYS = ("attention",)  # schema 1 only (see `store/upgrade.py`)


def array_name(layer: int, kind: str) -> str:
    """`layers.{layer}.{kind}`, e.g. `layers.3.q`."""
    if kind not in CAPTURED_ARRAYS + LEGACY_ARRAYS:
        raise ValueError(f"unknown captured array kind {kind!r}; expected one of {CAPTURED_ARRAYS}")
    return f"layers.{layer}.{kind}"


def array_path(run_dir: Path, name: str) -> Path:
    return run_dir / CAPTURE_DIR / f"{name}.npy"


def head_name(layer: int, head: int) -> str:
    """`layers.{layer}.heads.{head}`."""
    return f"layers.{layer}.heads.{head}"


def head_dir(run_dir: Path, layer: int, head: int) -> Path:
    return run_dir / HEADS_DIR / head_name(layer, head)


def inside_run(run_dir: Path, path: Path) -> Path:
    """`path`, refused when a link takes it outside `run_dir` (a run folder never links out)."""
    from attentionviz.errors import AttentionVizError

    if not path.resolve().is_relative_to(run_dir.resolve()):
        raise AttentionVizError(
            f"{path} links outside its run folder {run_dir}; refusing to read it (replace the link with the file)"
        )
    return path


def staging_dir(run_dir: Path) -> Path:
    """Where a build writes until it is complete; renamed onto `run_dir` at the end."""
    return run_dir.with_name(run_dir.name + ".partial")
