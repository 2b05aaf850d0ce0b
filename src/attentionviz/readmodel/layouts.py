"""Layout and norm rows of one head (the Single View) or of every head of a layer (the Matrix View).

Rows travel in one fixed level-of-detail order (`store.lod`), so any prefix is a uniform
sample; floats are quantised to uint16 over the whole head's bounds, so rows fetched in several
frames decode onto one grid.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from attentionviz.errors import AttentionVizError, RunNotFound
from attentionviz.layouts import Layout
from attentionviz.readmodel.frames import Frame, quantize
from attentionviz.readmodel.models import HeadRowsMeta, LayerRowsMeta
from attentionviz.store import head_outputs
from attentionviz.store.lod import cached_lod_order, lod_rank
from attentionviz.store.reader import Head, Run

ORDERS = ("token", "lod")


def layout_frame(head: Head, layout: Layout, *, order: str = "token", limit: int | None = None) -> bytes:
    """One layout, [rows, dim] quantised to uint16 over the whole layout's bounding box."""
    check_layout(layout)
    coords = np.asarray(head.layout(layout), dtype=np.float32)  # [2N, dim]
    rows = _rows(coords, head.run.info.n_tokens, order=order, limit=limit)
    frame = Frame(
        meta=HeadRowsMeta(
            name=head.name,
            layout=layout.key,
            order=order,
            rows=len(rows),
            n_points=len(coords),
            n_tokens=head.run.info.n_tokens,
        )
    )
    frame.add_quantized("coords", rows, bounds=_bounds(coords))
    return frame.encode()


def layer_layout_frame(
    run: Run,
    layer: int,
    layout: Layout,
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
    check_layout(layout)
    wanted = _layer_heads(run, layer, heads)
    present = [h for h in wanted if head_outputs.layout_path(run.path, layer, h, layout).exists()]
    if not present:
        raise RunNotFound(
            f"no {layout.key} layout for {'those heads of ' if heads is not None else ''}layer {layer}; "
            f"compute it with `attentionviz embed {run.path} --layouts {layout.key}`"
        )
    n = run.info.n_tokens
    index = _layer_rows(n, start=start, limit=limit, tokens=tokens)  # [rows] layout rows
    meta = _layer_meta(layer, present, n, start=start, rows=len(index), tokens=tokens)
    frame = Frame(meta=meta.model_copy(update={"layout": layout.key}))
    if tokens is not None:
        frame.add("rows", index)
    ranks = lod_rank(n)[index] if tokens is not None else None  # where those rows sit in LOD order
    for h in present:
        quantised, bounds = _LAYOUTS.get(run, layer, h, layout)  # [2N, dim] in LOD order
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

    def get(self, run: Run, layer: int, head: int, layout: Layout) -> tuple[np.ndarray, list[list[float]]]:
        path = head_outputs.layout_path(run.path, layer, head, layout)
        stat = path.lstat()  # a file swapped for a link is a new entry
        key = (str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self.lock:
            if key in self.entries:
                self.entries.move_to_end(key)
                return self.entries[key]
        coords = np.asarray(run.head(layer, head).layout(layout), dtype=np.float32)  # [2N, dim]
        n = run.info.n_tokens
        if len(coords) != 2 * n:
            raise AttentionVizError(
                f"layer {layer} head {head} has {len(coords)} rows, expected {2 * n}; re-embed the run"
            )
        entry = quantize(coords[cached_lod_order(n)], bounds=_bounds(coords))
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
    n = run.info.n_tokens
    index = _layer_rows(n, start=start, limit=limit, tokens=tokens)  # [rows]
    frame = Frame(meta=_layer_meta(layer, present, n, start=start, rows=len(index), tokens=tokens))
    if tokens is not None:
        frame.add("rows", index)
    for h in present:
        values = _norms(run.head(layer, h))  # [2N]
        if len(values) != 2 * n:
            raise AttentionVizError(
                f"layer {layer} head {h} has {len(values)} rows, expected {2 * n}; re-embed the run"
            )
        frame.add_quantized(f"heads.{h}", np.take(values, index, axis=0), bounds=_bounds(values))
    return frame.encode()


def _layer_meta(
    layer: int, heads: list[int], n: int, *, start: int, rows: int, tokens: Sequence[int] | None
) -> LayerRowsMeta:
    return LayerRowsMeta(
        layer=layer,
        heads=heads,
        order="tokens" if tokens is not None else "lod",
        start=0 if tokens is not None else start,
        rows=rows,
        n_points=2 * n,
        n_tokens=n,
    )


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
        order = cached_lod_order(n_tokens)
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
        meta=HeadRowsMeta(name=head.name, order=order, rows=len(rows), n_tokens=head.run.info.n_tokens)
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
        index = cached_lod_order(n_tokens)
        if limit is not None:
            index = index[:limit]
        return np.take(values, index, axis=0)
    return values[:limit] if limit is not None else values


def check_layout(layout: Layout) -> None:
    """A layout of a method the reducer registry knows; a one-line 404 otherwise."""
    from attentionviz.embed.reducers import REDUCERS

    if layout.method not in REDUCERS:
        raise RunNotFound(f"unknown layout {layout.key}; the methods are {', '.join(REDUCERS)}")
