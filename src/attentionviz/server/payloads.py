"""What the frontend reads about a run, built from the store without any web framework.

The HTTP routes (`server.app`) send these as they are; a static export can write the same bytes
to files. JSON for small records (run and head info), `frames.Frame` for every array.
"""

from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from attentionviz.errors import AttentionVizError, RunNotFound
from attentionviz.server.frames import Frame, quantize
from attentionviz.store import head_outputs, names

if TYPE_CHECKING:
    from attentionviz.store.reader import Head, Run

ORDERS = ("token", "lod")


def layout_key(method: str, dim: int) -> str:
    """`tsne.2d`: the name a layout goes by in routes and in the frontend."""
    return f"{method}.{dim}d"


def run_summary(run_id: str, run: Run) -> dict[str, Any]:
    info = run.info
    return {
        "id": run_id,
        "model": info.model,
        "kind": info.kind,
        "layers": info.layers,
        "heads": info.heads,
        "n_tokens": info.n_tokens,
        "n_sequences": info.n_sequences,
    }


def run_details(run_id: str, run: Run) -> dict[str, Any]:
    m = run.manifest
    return {
        **run_summary(run_id, run),
        "architecture": m.model.architecture,
        "corpus": m.corpus.source,
        "kv_heads": m.n_kv_heads,
        "head_dim": m.head_dim,
        "kv_map": list(m.kv_map),
        "image_grid": list(m.image_grid) if m.image_grid else None,
        "special_tokens": list(m.special_tokens),
        "created": m.created,
        "version": m.version,
        "layouts": layout_availability(run),
    }


def layout_availability(run: Run) -> dict[str, list[int]]:
    """For each layout present anywhere or being computed, the heads that have it (index = layer * heads + head)."""
    info = run.info
    files = {names.layout_file(m, d): layout_key(m, d) for m in head_outputs.LAYOUT_METHODS for d in (2, 3)}
    found: dict[str, list[int]] = {}
    folders = _subfolders(names.head_dir(run.path, 0, 0).parent)
    for layer in range(info.layers):
        for head in range(info.heads):
            folder = folders.get(names.head_name(layer, head))
            if folder is None:
                continue
            with os.scandir(folder) as entries:  # one listing per head, not a stat per layout
                present = sorted(files[e.name] for e in entries if e.name in files)
            for key in present:
                found.setdefault(key, []).append(layer * info.heads + head)
    for method, dim in head_outputs.pending_layouts(run.path):  # an `embed` is computing them: the app polls
        found.setdefault(layout_key(method, dim), [])
    order = {
        layout_key(m, d): i
        for i, (m, d) in enumerate((m, d) for d in (2, 3) for m in head_outputs.LAYOUT_METHODS)
    }
    return dict(sorted(found.items(), key=lambda item: order.get(item[0], 99)))


def _subfolders(path: Path) -> dict[str, str]:
    if not path.is_dir():
        return {}
    with os.scandir(path) as entries:
        return {e.name: e.path for e in entries if e.is_dir()}


def head_details(head: Head) -> dict[str, Any]:
    layouts = head.layouts()
    return {
        "name": head.name,
        "layer": head.layer,
        "head": head.head,
        "kv_head": head.kv_head,
        "layouts": [layout_key(m, d) for m, d in layouts],
        "layout_meta": {
            layout_key(m, d): head_outputs.load_layout_meta(head.run.path, head.layer, head.head, m, d)
            for m, d in layouts
        },
        "metrics": head.metrics,
        "fidelity": head.fidelity,
    }


def tokens_frame(run: Run) -> bytes:
    """The token table, columnar: the token text dictionary-encoded, the rest as int arrays."""
    table = run.tokens
    codes, values = _dictionary(table["token"].astype(str).to_numpy())
    frame = Frame(meta={"n_tokens": len(table)})
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
    frame = Frame(meta={"n_sequences": len(table)})
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
    frame = Frame(meta={"n_tokens": run.info.n_tokens})
    frame.add("order", lod_order(run.info.n_tokens))
    return frame.encode()


def layout_frame(
    head: Head, method: str, dim: int, *, order: str = "token", limit: int | None = None
) -> bytes:
    """One layout, [rows, dim] quantised to uint16 over the whole layout's bounding box."""
    coords = np.asarray(head.layout(method, dim), dtype=np.float32)  # [2N, dim]
    rows = _rows(coords, head.run.info.n_tokens, order=order, limit=limit)
    frame = Frame(
        meta={
            "name": head.name,
            "layout": layout_key(method, dim),
            "order": order,
            "rows": len(rows),
            "n_points": len(coords),
            "n_tokens": head.run.info.n_tokens,
        }
    )
    frame.add_quantized("coords", rows, bounds=_bounds(coords))
    return frame.encode()


def layer_layout_frame(
    run: Run,
    layer: int,
    method: str,
    dim: int,
    *,
    start: int = 0,
    limit: int | None = None,
    heads: Sequence[int] | None = None,
    tokens: Sequence[int] | None = None,
) -> bytes:
    """Every head of `layer` that has the layout (or those of `heads`), in one frame.

    Rows are the level-of-detail rows [start, start + limit), or with `tokens` the query and key
    rows of those tokens (listed in the `rows` buffer, uint32 layout rows). Head h's rows are the
    buffer `heads.{h}`, quantised over its whole layout's bounds, so that rows fetched in several
    frames decode onto one grid. The Matrix View fetches a small prefix of every head first, then
    more rows where it has room to show them.
    """
    check_layout_name(method, dim)
    wanted = _layer_heads(run, layer, heads)
    present = [h for h in wanted if head_outputs.layout_path(run.path, layer, h, method, dim).exists()]
    if not present:
        raise RunNotFound(
            f"no {method} {dim}D layout for {'those heads of ' if heads is not None else ''}layer {layer}; "
            f"compute it with `attentionviz embed {run.path} --layouts {method} --dims {dim}`"
        )
    n = run.info.n_tokens
    index = _layer_rows(n, start=start, limit=limit, tokens=tokens)  # [rows] layout rows
    meta = _layer_meta(layer, present, n, start=start, rows=len(index), tokens=tokens)
    frame = Frame(meta={**meta, "layout": layout_key(method, dim)})
    if tokens is not None:
        frame.add("rows", index)
    ranks = _lod_rank(n)[index] if tokens is not None else None  # where those rows sit in LOD order
    for h in present:
        quantised, bounds = _LAYOUTS.get(run, layer, h, method, dim)  # [2N, dim] in LOD order
        part = quantised[start : start + len(index)] if ranks is None else quantised[ranks]
        frame.add(f"heads.{h}", part, bounds=bounds)
    return frame.encode()


class _LodLayouts:
    """Each head's layout in LOD order, quantised over its whole-layout bounds, kept while its file
    is unchanged (least recently used first out, within `budget` bytes): a layer's request then
    slices memory instead of opening, reordering and quantising every head's file again."""

    def __init__(self, budget: int = 256 * 2**20) -> None:
        self.budget = budget
        self.size = 0
        self.entries: OrderedDict[tuple[str, int, int, int], tuple[np.ndarray, list[list[float]]]] = (
            OrderedDict()
        )
        self.lock = threading.Lock()

    def get(
        self, run: Run, layer: int, head: int, method: str, dim: int
    ) -> tuple[np.ndarray, list[list[float]]]:
        path = head_outputs.layout_path(run.path, layer, head, method, dim)
        stat = path.lstat()  # a file swapped for a link is a new entry
        key = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key]
        coords = np.asarray(run.head(layer, head).layout(method, dim), dtype=np.float32)  # [2N, dim]
        n = run.info.n_tokens
        if len(coords) != 2 * n:
            raise AttentionVizError(
                f"layer {layer} head {head} has {len(coords)} rows, expected {2 * n}; re-embed the run"
            )
        entry = quantize(coords[_lod_order(n)], bounds=_bounds(coords))
        with self.lock:
            if key not in self.entries:
                self.entries[key] = entry
                self.size += entry[0].nbytes
            while self.size > self.budget and len(self.entries) > 1:
                _, (old, _) = self.entries.popitem(last=False)
                self.size -= old.nbytes
        return entry


_LAYOUTS = _LodLayouts()


def layer_norms_frame(
    run: Run,
    layer: int,
    *,
    start: int = 0,
    limit: int | None = None,
    heads: Sequence[int] | None = None,
    tokens: Sequence[int] | None = None,
) -> bytes:
    """The q/k norms of every head of `layer` (or of `heads`), rows chosen as in `layer_layout_frame`."""
    present = _layer_heads(run, layer, heads)
    return _layer_frame(
        run, layer, present, {}, lambda h: _norms(run.head(layer, h)), start=start, limit=limit, tokens=tokens
    )


def _layer_frame(
    run: Run,
    layer: int,
    heads: list[int],
    meta: dict[str, Any],
    values_of: Callable[[int], np.ndarray],
    *,
    start: int,
    limit: int | None,
    tokens: Sequence[int] | None,
) -> bytes:
    n = run.info.n_tokens
    index = _layer_rows(n, start=start, limit=limit, tokens=tokens)  # [rows]
    frame = Frame(meta=_layer_meta(layer, heads, n, start=start, rows=len(index), tokens=tokens))
    if tokens is not None:
        frame.add("rows", index)
    for h in heads:
        values = values_of(h)  # [2N] or [2N, dim]
        if len(values) != 2 * n:
            raise AttentionVizError(
                f"layer {layer} head {h} has {len(values)} rows, expected {2 * n}; re-embed the run"
            )
        frame.add_quantized(f"heads.{h}", np.take(values, index, axis=0), bounds=_bounds(values))
    return frame.encode()


def _layer_meta(
    layer: int, heads: list[int], n: int, *, start: int, rows: int, tokens: Sequence[int] | None
) -> dict[str, Any]:
    return {
        "layer": layer,
        "heads": heads,
        "order": "tokens" if tokens is not None else "lod",
        "start": 0 if tokens is not None else start,
        "rows": rows,
        "n_points": 2 * n,
        "n_tokens": n,
    }


def _layer_heads(run: Run, layer: int, heads: Sequence[int] | None) -> list[int]:
    run.head(layer, 0)  # raises for a layer out of range
    if heads is None:
        return list(range(run.info.heads))
    for h in heads:
        run.head(layer, h)  # raises for a head out of range
    return sorted(set(heads))


def _layer_rows(n_tokens: int, *, start: int, limit: int | None, tokens: Sequence[int] | None) -> np.ndarray:
    """uint32 layout rows: a slice of the LOD order, or each token's query row and key row."""
    if tokens is None:
        order = _lod_order(n_tokens)
        return order[start : None if limit is None else start + limit]
    picked = np.asarray(sorted(set(tokens)), dtype=np.int64)
    if len(picked) and (picked[0] < 0 or picked[-1] >= n_tokens):
        bad = int(picked[-1] if picked[-1] >= n_tokens else picked[0])
        raise RunNotFound(f"token {bad} is out of range: this run has tokens 0..{n_tokens - 1}")
    return np.stack([picked, picked + n_tokens], axis=1).reshape(-1).astype(np.uint32)  # [T, 2] -> [2T]


def _bounds(values: np.ndarray) -> np.ndarray:
    """[d, 2] per-column [min, max] of a [rows, d] array (or of [rows])."""
    flat = values.reshape(len(values), int(np.prod(values.shape[1:])))  # [rows, d]
    if not len(flat):
        return np.zeros((flat.shape[1], 2))
    columns = np.ascontiguousarray(flat.T)  # [d, rows]: reducing along rows is ~50x faster than axis=0
    return np.stack([columns.min(axis=1), columns.max(axis=1)], axis=1)


def norms_frame(head: Head, *, order: str = "token", limit: int | None = None) -> bytes:
    """[2N] L2 norms of the queries then the keys, as the model multiplies them (before any translation)."""
    both = _norms(head)
    rows = _rows(both, head.run.info.n_tokens, order=order, limit=limit)
    frame = Frame(
        meta={"name": head.name, "order": order, "rows": len(rows), "n_tokens": head.run.info.n_tokens}
    )
    frame.add_quantized("norms", rows, bounds=_bounds(both))
    return frame.encode()


def _norms(head: Head) -> np.ndarray:
    """[2N] float32: query norms then key norms."""
    q = np.linalg.norm(np.asarray(head.queries(), dtype=np.float32), axis=1)  # [N]
    k = np.linalg.norm(np.asarray(head.keys(), dtype=np.float32), axis=1)  # [N]
    return np.concatenate([q, k])


def _rows(values: np.ndarray, n_tokens: int, *, order: str, limit: int | None) -> np.ndarray:
    if order not in ORDERS:
        raise RunNotFound(f"unknown order {order!r}; choose one of {', '.join(ORDERS)}")
    if len(values) != 2 * n_tokens:
        raise AttentionVizError(
            f"this head's array has {len(values)} rows, expected {2 * n_tokens}; re-embed the run"
        )
    if order == "lod":
        index = _lod_order(n_tokens)
        if limit is not None:
            index = index[:limit]
        return np.take(values, index, axis=0)
    return values[:limit] if limit is not None else values


def _dictionary(values: np.ndarray) -> tuple[np.ndarray, list[str]]:
    uniques, codes = np.unique(values, return_inverse=True)
    return np.asarray(codes, dtype=np.uint32), [str(v) for v in uniques]


def check_layout_name(method: str, dim: int) -> None:
    if method not in head_outputs.LAYOUT_METHODS or dim not in (2, 3):
        raise RunNotFound(
            f"unknown layout {layout_key(method, dim)}; layouts are "
            f"{', '.join(layout_key(m, d) for d in (2, 3) for m in head_outputs.LAYOUT_METHODS)}"
        )
