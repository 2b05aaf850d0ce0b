"""Token-level payloads below a head: one sequence's attention, the head's aggregate attention,
value norms, and the images of image runs. Built from the store without any web framework.

    sequence_attention_frame(head, seq)   [rows, len] float32, exactly `head.attention(seq)` (or rows of it)
    aggregate_attention(head)             [P, P] mean over the sequences that have both positions
    value_norms_frame(head, seq)          [len] float32 value-vector norms of the sequence's tokens
    image_png(run, seq)                   the image as the model saw it (PNG bytes)

Attention is derived from the stored queries and keys on each request (`head.attention`): a
sequence's rows cost O(rows x len x head_dim), so a long sequence is fetched a window of query rows
at a time. The aggregate was computed once, by the capture, and is read as stored.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from attentionviz.errors import AttentionVizError, RunNotFound
from attentionviz.readmodel.frames import Frame
from attentionviz.readmodel.models import AggregateMeta, AttentionMeta, SequenceMeta
from attentionviz.store import names

if TYPE_CHECKING:
    from attentionviz.store.reader import Head, Run

log = logging.getLogger(__name__)


def sequence_attention_frame(
    head: Head, seq: int, *, start: int = 0, limit: int | None = None, quantized: bool = False
) -> bytes:
    """The model's own attention for sequence `seq` (rows: queries), float32 without quantisation,
    and the sequence's value-vector norms (`value_norms`, [len]) where the run has them.

    `start` / `limit`: only query rows start..start+limit ([rows, len]; the meta says which).
    `quantized`: uint16 over [0, 1] instead, flattened to [rows * len, 1] (one pair of bounds), within
    QUANTIZED_ATTENTION_ERROR of it at half the size: what a static export writes.
    """
    token_start, length = head.run.sequence_bounds(seq)
    first = min(start, length)
    last = length if limit is None else min(length, first + limit)
    attention = head.attention(seq, rows=(first, last))  # [rows, len] float32
    frame = Frame(
        meta=AttentionMeta(
            name=head.name,
            sequence=seq,
            token_start=token_start,
            n_tokens=length,
            row_start=first,
            n_rows=last - first,
        )
    )
    if quantized:
        flat = attention.reshape(-1, 1)  # [rows * len, 1]
        frame.add_quantized("attention", flat, bounds=np.array([[0.0, 1.0]]))
    else:
        frame.add("attention", attention)
    with contextlib.suppress(AttentionVizError):  # a run captured without value norms: attention alone
        frame.add(
            "value_norms",
            np.asarray(head.value_norms()[token_start : token_start + length], dtype=np.float32),
        )
    return frame.encode()


QUANTIZED_ATTENTION_ERROR = 0.5 / 65535  # the largest error of a quantised attention weight


def value_norms_frame(head: Head, seq: int) -> bytes:
    """[len] value-vector norms of the sequence's tokens in this head's KV group."""
    start, length = head.run.sequence_bounds(seq)
    norms = np.asarray(head.value_norms()[start : start + length], dtype=np.float32)  # [len]
    frame = Frame(meta=SequenceMeta(name=head.name, sequence=seq, token_start=start, n_tokens=length))
    frame.add("value_norms", norms)
    return frame.encode()


def aggregate_attention(head: Head) -> tuple[np.ndarray, np.ndarray]:
    """([P, P] mean attention, [P, P] number of sequences) over the corpus, for its first P positions.

    Entry (i, j) averages query position i's attention to key position j over the sequences that
    have both positions; the capture computed it once (`layers.{l}.aggregate`).
    """
    return head.aggregate(), head.run.aggregate_counts


def aggregate_attention_frame(head: Head) -> bytes:
    mean, count = aggregate_attention(head)
    frame = Frame(meta=AggregateMeta(name=head.name, max_len=len(mean)))
    frame.add("attention", mean)
    frame.add("count", count)
    return frame.encode()


def image_path(run: Run, seq: int) -> Path:
    """The PNG of sequence `seq` of an image run, as the model saw it."""
    run.sequence_bounds(seq)  # raises RunNotFound when out of range
    if run.manifest.image_grid is None:
        raise RunNotFound(f"{run.path.name} is a text run; only image runs have images")
    path = run.path / names.IMAGES_DIR / f"{seq}.png"
    if not path.is_file():
        raise RunNotFound(f"image {seq} is missing from {run.path / names.IMAGES_DIR}; rebuild the run")
    return path


def image_png(run: Run, seq: int) -> bytes:
    return image_path(run, seq).read_bytes()


PATCH_TILE = 16  # pixels per tile side in the patch atlas


def patch_atlas_png(run: Run) -> bytes:
    """Every token's patch as a 16 x 16 tile, token t at column t % C, row t // C (C = atlas width / 16).

    The [CLS] (and any non-patch) token's tile is a grey square with a dark border.
    """
    return _patch_atlas(str(run.path), _stamp(run.path))


def _stamp(path: Path) -> int:
    manifest = path / names.MANIFEST
    return manifest.stat().st_mtime_ns if manifest.exists() else 0


@functools.lru_cache(maxsize=8)
def _patch_atlas(path: str, stamp: int) -> bytes:
    import io

    from PIL import Image

    from attentionviz.store.reader import Run

    run = Run(path)
    grid = run.manifest.image_grid
    if grid is None:
        raise RunNotFound(f"{run.path.name} is a text run; only image runs have patches")
    rows, cols = grid
    tokens = run.tokens
    n = len(tokens)
    columns = max(1, int(np.ceil(np.sqrt(n))))
    atlas = Image.new("RGB", (columns * PATCH_TILE, max(1, -(-n // columns)) * PATCH_TILE), (200, 200, 200))
    blank = Image.new("RGB", (PATCH_TILE, PATCH_TILE), (60, 60, 60))
    blank.paste((215, 215, 215), (2, 2, PATCH_TILE - 2, PATCH_TILE - 2))
    sequence = tokens["sequence"].to_numpy()
    patch_row = tokens["patch_row"].to_numpy()
    patch_col = tokens["patch_col"].to_numpy()
    current: tuple[int, Image.Image] | None = None
    for t in range(n):
        x, y = (t % columns) * PATCH_TILE, (t // columns) * PATCH_TILE
        if patch_row[t] < 0:
            atlas.paste(blank, (x, y))
            continue
        if current is None or current[0] != sequence[t]:
            with Image.open(image_path(run, int(sequence[t]))) as opened:
                current = (int(sequence[t]), opened.convert("RGB"))
        image = current[1]
        h, w = image.height / rows, image.width / cols
        box = (
            round(patch_col[t] * w),
            round(patch_row[t] * h),
            round((patch_col[t] + 1) * w),
            round((patch_row[t] + 1) * h),
        )
        tile = image.crop(box).resize((PATCH_TILE, PATCH_TILE), Image.Resampling.NEAREST)
        atlas.paste(tile, (x, y))
    out = io.BytesIO()
    atlas.save(out, format="PNG")
    log.debug("patch atlas for %s: %d tiles, %d columns", path, n, columns)
    return out.getvalue()
