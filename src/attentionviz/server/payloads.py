"""What the frontend reads about a run, built from the store without any web framework.

The HTTP routes (`server.app`) send these as they are; a static export can write the same bytes
to files. JSON for small records (run and head info), `frames.Frame` for every array.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import numpy as np

from attentionviz.errors import AttentionVizError, RunNotFound
from attentionviz.server.frames import Frame
from attentionviz.store import head_outputs

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
    found: dict[str, list[int]] = {}
    for layer in range(info.layers):
        for head in range(info.heads):
            for method, dim in head_outputs.available_layouts(run.path, layer, head):
                found.setdefault(layout_key(method, dim), []).append(layer * info.heads + head)
    for method, dim in head_outputs.pending_layouts(run.path):  # an `embed` is computing them: the app polls
        found.setdefault(layout_key(method, dim), [])
    order = {
        layout_key(m, d): i
        for i, (m, d) in enumerate((m, d) for d in (2, 3) for m in head_outputs.LAYOUT_METHODS)
    }
    return dict(sorted(found.items(), key=lambda item: order.get(item[0], 99)))


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


def lod_order_frame(run: Run) -> bytes:
    frame = Frame(meta={"n_tokens": run.info.n_tokens})
    frame.add("order", lod_order(run.info.n_tokens))
    return frame.encode()


def layout_frame(
    head: Head, method: str, dim: int, *, order: str = "token", limit: int | None = None
) -> bytes:
    """One layout, [rows, dim] quantised to uint16 over its bounding box (exact per-axis bounds)."""
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
    frame.add_quantized("coords", rows)
    return frame.encode()


def norms_frame(head: Head, *, order: str = "token", limit: int | None = None) -> bytes:
    """[2N] L2 norms of the queries then the keys, as the model multiplies them (before any translation)."""
    q = np.linalg.norm(np.asarray(head.queries(), dtype=np.float32), axis=1)  # [N]
    k = np.linalg.norm(np.asarray(head.keys(), dtype=np.float32), axis=1)  # [N]
    both = np.concatenate([q, k])
    rows = _rows(both, head.run.info.n_tokens, order=order, limit=limit)
    frame = Frame(
        meta={"name": head.name, "order": order, "rows": len(rows), "n_tokens": head.run.info.n_tokens}
    )
    frame.add_quantized("norms", rows)
    return frame.encode()


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
