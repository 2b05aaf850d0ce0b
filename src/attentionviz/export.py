"""`attentionviz export`: a run as a static site, shown by any static web server with no Python behind it.

The site is the served app's own files plus every API answer the app asks for, written where its
URL points: `api/runs/{run}/layers.{l}.heads.{h}/tsne.2d` is the binary frame the server would
send, and the JSON records that share a path with a folder (`api/runs/{run}`) are that folder's
`index.html`, which static servers answer for the folder's address. Layout and norm frames are
written whole in level-of-detail order, so a request for its first rows (`?order=lod&limit=...`,
a query string static servers ignore) still gets rows in the order the app expects.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attentionviz.errors import AttentionVizError
from attentionviz.store.reader import Head, Run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportSummary:
    site: Path
    files: int
    bytes: int
    heads: int


def export_site(
    run_dir: str | Path,
    out: str | Path,
    *,
    layers: Iterable[int] | None = None,
    heads: Iterable[int] | None = None,
    layouts: Iterable[str] | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> ExportSummary:
    """Write the static site for the run at `run_dir` into the folder `out`.

    `layers` / `heads` keep only those heads (the others show as empty cells); `layouts` keeps only
    those layout keys ("tsne.2d") or methods ("tsne"). `out` must be empty or missing unless
    `overwrite`.
    """
    from attentionviz.server import payloads
    from attentionviz.server.app import STATIC_DIR

    run = Run(run_dir)
    site = Path(out).expanduser()
    if site.exists() and any(site.iterdir()):
        if not overwrite:
            raise AttentionVizError(f"{site} is not empty; pick a new folder or pass --overwrite")
        shutil.rmtree(site)
    if STATIC_DIR is None or not (Path(STATIC_DIR) / "index.html").exists():
        raise AttentionVizError(
            "the web app is not built into this install; reinstall attentionviz, or run "
            "`npm ci && npm run build` in frontend/"
        )
    shutil.copytree(STATIC_DIR, site)
    run_id = run.path.name
    api = site / "api"
    base = api / "runs" / run_id
    selected = _select(run, layers, heads)
    keep = _layout_filter(layouts)
    availability = {
        key: [i for i in rows if _index_head(run, i) in selected]
        for key, rows in payloads.layout_availability(run).items()
        if keep(key)
    }
    availability = {key: rows for key, rows in availability.items() if rows}
    if not availability:
        raise AttentionVizError("nothing to export: no selected head has a selected layout")
    details = {**payloads.run_details(run_id, run), "layouts": availability}

    writer = _Writer()
    writer.json(api / "index.html", {"name": "attentionviz", "version": details["version"], "runs": [run_id]})
    writer.json(api / "runs" / "index.html", [payloads.run_summary(run_id, run)])
    writer.json(base / "index.html", details)
    writer.json(base / "layouts", availability)
    writer.bytes(base / "tokens", payloads.tokens_frame(run))
    writer.bytes(base / "sequences", payloads.sequences_frame(run))
    writer.bytes(base / "lod-order", payloads.lod_order_frame(run))
    _images(run, base, writer)
    for layer in sorted({layer for layer, _ in selected}):  # the Matrix View's one request per layer
        in_layer = [h for layer_, h in selected if layer_ == layer]
        writer.bytes(
            base / f"layers.{layer}" / "norms", payloads.layer_norms_frame(run, layer, heads=in_layer)
        )
        for key, rows in availability.items():
            if key.endswith(".2d") and any(_index_head(run, i)[0] == layer for i in rows):
                method, dim = key.split(".")[0], int(key.split(".")[1][0])
                frame = payloads.layer_layout_frame(run, layer, method, dim, heads=in_layer)
                writer.bytes(base / f"layers.{layer}" / key, frame)
    for done, (layer, head_index) in enumerate(selected, start=1):
        head = run.head(layer, head_index)
        folder = base / f"layers.{layer}.heads.{head_index}"
        record = payloads.head_details(head)
        record["layouts"] = [k for k in record["layouts"] if keep(k)]
        writer.json(folder / "index.html", record)
        writer.bytes(folder / "norms", payloads.norms_frame(head, order="lod"))
        for method, dim in head.layouts():
            if keep(payloads.layout_key(method, dim)):
                frame = payloads.layout_frame(head, method, dim, order="lod")
                writer.bytes(folder / payloads.layout_key(method, dim), frame)
        _attention(run, head, folder, writer)
        if progress is not None:
            progress(done, len(selected))
    log.info("exported %s: %d files, %d bytes", site, writer.files, writer.total)
    return ExportSummary(site, writer.files, writer.total, len(selected))


class _Writer:
    def __init__(self) -> None:
        self.files = 0
        self.total = 0

    def bytes(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files += 1
        self.total += len(data)

    def json(self, path: Path, value: Any) -> None:
        self.bytes(path, json.dumps(value, separators=(",", ":")).encode())


def _select(run: Run, layers: Iterable[int] | None, heads: Iterable[int] | None) -> list[tuple[int, int]]:
    info = run.info
    wanted_layers = sorted(set(layers)) if layers is not None else list(range(info.layers))
    wanted_heads = sorted(set(heads)) if heads is not None else list(range(info.heads))
    for name, values, limit in (("layer", wanted_layers, info.layers), ("head", wanted_heads, info.heads)):
        bad = [v for v in values if not 0 <= v < limit]
        if bad:
            raise AttentionVizError(
                f"{name} {bad[0]} is out of range; the run has {limit} {name}s (0-{limit - 1})"
            )
    return [(layer, head) for layer in wanted_layers for head in wanted_heads]


def _index_head(run: Run, index: int) -> tuple[int, int]:
    return divmod(index, run.info.heads)


def _layout_filter(layouts: Iterable[str] | None) -> Callable[[str], bool]:
    if layouts is None:
        return lambda key: True
    wanted = {
        name.strip().lower().replace("3d", ".3d").replace("..", ".") for name in layouts if name.strip()
    }
    return lambda key: key in wanted or key.split(".")[0] in wanted


def _attention(run: Run, head: Head, folder: Path, writer: _Writer) -> None:
    """The Sentence and Image Views' frames: each sequence's attention (value norms inside), the aggregate."""
    from attentionviz.server import attention

    try:
        writer.bytes(folder / "aggregate", attention.aggregate_attention_frame(head))
        for seq in range(run.info.n_sequences):
            # uint16: half the size, within 1e-5 of the model's attention
            frame = attention.sequence_attention_frame(head, seq, quantized=True)
            writer.bytes(folder / "attention" / str(seq), frame)
    except AttentionVizError as exc:  # a run captured without attention: the other views still work
        log.info("no attention exported for %s: %s", head.name, exc)


def _images(run: Run, base: Path, writer: _Writer) -> None:
    if run.info.kind != "image":
        return
    from attentionviz.server import attention

    writer.bytes(base / "patches.png", attention.patch_atlas_png(run))
    for seq in range(run.info.n_sequences):
        writer.bytes(base / "images" / f"{seq}.png", attention.image_png(run, seq))


def export_command(
    run_path: str,
    out: str,
    *,
    layers: str | None,
    heads: str | None,
    layouts: str | None,
    overwrite: bool,
    echo: Callable[[str], None],
    single_file: bool = False,
) -> None:
    """`attentionviz export`: parse the ranges, write the site (or one HTML file), say how to look at it."""
    from attentionviz.embed.command import parse_ranges

    run = Run(run_path)
    wanted_layers = parse_ranges(layers, upper=run.info.layers, what="layers")
    wanted_heads = parse_ranges(heads, upper=run.info.heads, what="heads")
    wanted_layouts = layouts.split(",") if layouts else None
    if single_file:
        from attentionviz.single_file import export_single_file

        page = export_single_file(
            run.path,
            out,
            layers=wanted_layers,
            heads=wanted_heads,
            layouts=wanted_layouts,
            overwrite=overwrite,
        )
        echo(
            f"exported {page.heads} heads of {run.path.name} to {page.path} ({page.bytes / 1e6:.1f} MB); "
            "open it in a browser, no server needed"
        )
        return
    summary = export_site(
        run.path, out, layers=wanted_layers, heads=wanted_heads, layouts=wanted_layouts, overwrite=overwrite
    )
    echo(
        f"exported {summary.heads} heads of {run.path.name} to {summary.site} "
        f"({summary.files} files, {summary.bytes / 1e6:.1f} MB); "
        f"view it with `python -m http.server -d {summary.site}` or any static web server"
    )
