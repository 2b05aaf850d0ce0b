"""Per-head derived outputs inside a finished run: layouts, metrics, fidelity.

    heads/layers.3.heads.5/
        tsne.2d.npy        float32 [2N, 2]: rows 0..N-1 queries, N..2N-1 keys (token order)
        tsne.2d.json       how it was made: normalisation, parameters, seconds, quality
        tsne.2d.coarse     (empty) while tsne.2d.npy is a coarse layout, to be refined
        metrics.json       head metrics (entropy, positional scores, norms, ...)
        fidelity.json      Spearman rho of q.k against q-k distance, per space

Every file is written atomically, one at a time, so an interrupted `embed` resumes head by head
and a reader never sees half a layout. A coarse layout (`embed/coarse.py`) is a layout like any
other, [2N, dim], marked by a `.coarse` file beside it that goes once its full layout replaces it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from attentionviz.errors import AttentionVizError, RunNotFound
from attentionviz.layouts import Layout
from attentionviz.store import names
from attentionviz.store.atomic import load_npy, read_json, write_json, write_npy


def layout_path(run_dir: Path, layer: int, head: int, layout: Layout) -> Path:
    return names.head_dir(run_dir, layer, head) / layout.file_name


COARSE = ".coarse"  # the marker's suffix: tsne.2d.coarse


def save_layout(
    run_dir: Path,
    layer: int,
    head: int,
    layout: Layout,
    coords: np.ndarray,
    meta: dict[str, Any],
    *,
    coarse: bool = False,
) -> None:
    """Store one layout, [2N, dim] float32, and its metadata (the .npy lands last).

    A coarse layout is marked before it lands; a full one is unmarked after, so a layout is never
    taken for full while it is coarse (at worst a full one is refined once more)."""
    if coords.ndim != 2 or coords.shape[1] != layout.dim:
        raise ValueError(f"layout must be [2N, {layout.dim}], got {coords.shape}")
    path = layout_path(run_dir, layer, head, layout)
    marker = path.with_name(layout.key + COARSE)
    if coarse:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    write_json(path.with_suffix(".json"), meta)
    write_npy(path, coords.astype(np.float32, copy=False))
    if not coarse:
        marker.unlink(missing_ok=True)


def load_layout(run_dir: Path, layer: int, head: int, layout: Layout) -> np.ndarray:
    path = layout_path(run_dir, layer, head, layout)
    if not path.exists():
        have = ", ".join(other.key for other in available_layouts(run_dir, layer, head)) or "none yet"
        raise RunNotFound(
            f"no {layout.key} layout for layer {layer} head {head} (it has {have}); "
            f"compute it with `attentionviz embed {run_dir} --layouts {layout.key}`"
        )
    return load_npy(names.inside_run(run_dir, path))


def load_layout_meta(run_dir: Path, layer: int, head: int, layout: Layout) -> dict[str, Any]:
    path = layout_path(run_dir, layer, head, layout).with_suffix(".json")
    return dict(read_json(names.inside_run(run_dir, path))) if path.exists() else {}


def available_layouts(run_dir: Path, layer: int, head: int, *, coarse: bool | None = None) -> list[Layout]:
    """The layouts whose file exists for this head, sorted by method then dimension: all of them,
    or only the coarse ones (`coarse=True`) or only the full ones (`coarse=False`)."""
    folder = names.head_dir(run_dir, layer, head)
    if not folder.is_dir():
        return []
    with os.scandir(folder) as entries:  # one listing, not a stat per possible layout
        listed = [entry.name for entry in entries]
    found = {layout for layout in map(Layout.from_file_name, listed) if layout is not None}
    if coarse is not None:
        marked = {layout for layout in found if layout.key + COARSE in listed}
        found = marked if coarse else found - marked
    return sorted(found)


def coarse_layouts(run_dir: Path, layer: int, head: int) -> list[Layout]:
    """This head's layouts that are still coarse (`embed/coarse.py`)."""
    return available_layouts(run_dir, layer, head, coarse=True)


def save_head_json(run_dir: Path, layer: int, head: int, name: str, data: dict[str, Any]) -> None:
    """Store `metrics`, `fidelity` or another small per-head record as `{name}.json`."""
    write_json(names.head_dir(run_dir, layer, head) / f"{name}.json", data)


def load_head_json(run_dir: Path, layer: int, head: int, name: str) -> dict[str, Any] | None:
    path = names.head_dir(run_dir, layer, head) / f"{name}.json"
    return dict(read_json(names.inside_run(run_dir, path))) if path.exists() else None


PENDING = "embedding.json"  # at the run's top level while `embed` runs: the layouts it is computing


def write_pending(run_dir: Path, layouts: list[Layout]) -> None:
    """Say that `layouts` are being computed, so a viewer keeps looking for them as they land."""
    keys = sorted({layout.key for layout in layouts})
    write_json(run_dir / PENDING, {"layouts": keys})


def clear_pending(run_dir: Path) -> None:
    (run_dir / PENDING).unlink(missing_ok=True)


def pending_layouts(run_dir: Path) -> list[Layout]:
    """The layouts an `embed` in progress is computing ([] when none is, or the record is unreadable)."""
    path = run_dir / PENDING
    try:
        keys = read_json(names.inside_run(run_dir, path)).get("layouts", []) if path.exists() else []
    except (OSError, ValueError, AttributeError, AttentionVizError):
        return []
    found = []
    for key in keys:
        try:
            found.append(Layout.parse(str(key)))
        except AttentionVizError:
            continue
    return found


FOCUS = "focus.json"  # at the run's top level: the heads a viewer opened, most recent first
FOCUS_KEPT = 8


def write_focus(run_dir: Path, layer: int, head: int) -> None:
    """Say that a viewer opened head (layer, head): a running `embed` refines it next."""
    heads = [[layer, head], *(h for h in focus(run_dir) if h != (layer, head))][:FOCUS_KEPT]
    write_json(run_dir / FOCUS, {"heads": [list(h) for h in heads]}, durable=False)


def focus(run_dir: Path) -> list[tuple[int, int]]:
    """The heads a viewer opened, most recent first ([] when none, or the record is unreadable)."""
    path = run_dir / FOCUS
    try:
        heads = read_json(names.inside_run(run_dir, path)).get("heads", []) if path.exists() else []
        return [(int(layer), int(head)) for layer, head in heads]
    except (OSError, ValueError, TypeError, AttributeError, AttentionVizError):
        return []
