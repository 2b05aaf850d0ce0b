"""`attentionviz export`: a run as a static site, shown by any static web server with no Python behind it.

The site is the served app's own files plus every API answer the app asks for, as the read model's
route table declares them (`readmodel.routes`: each route says which files an export writes),
written where its URL points: `api/runs/{run}/layers.{l}.heads.{h}/tsne.2d` is the binary frame the server would
send, and the JSON records that share a path with a folder (`api/runs/{run}`) are that folder's
`index.html`, which static servers answer for the folder's address. Layout and norm frames are
written whole in level-of-detail order, so a request for its first rows (`?order=lod&limit=...`,
a query string static servers ignore) still gets rows in the order the app expects.
"""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attentionviz.errors import AttentionVizError
from attentionviz.layouts import Layout, split_spec
from attentionviz.readmodel import runs as read
from attentionviz.readmodel.registry import RunRegistry
from attentionviz.readmodel.scope import Scope
from attentionviz.store.reader import Run

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportSummary:
    site: Path
    files: int
    bytes: int
    heads: int

    def __str__(self) -> str:
        return (
            f"exported {self.heads} heads to {self.site} ({self.files} files, {self.bytes / 1e6:.1f} MB); "
            f"view it with `python -m http.server -d {self.site}` or any static web server"
        )


def export_site(
    runs: str | Path | Sequence[str | Path],
    out: str | Path,
    *,
    layers: Iterable[int] | None = None,
    heads: Iterable[int] | None = None,
    layouts: Iterable[str] | None = None,
    overwrite: bool = False,
    progress: Callable[[int, int, int], None] | None = None,
) -> ExportSummary:
    """Write the static site for the run(s) `runs` into the folder `out`.

    `runs`: a run folder, a folder of runs (a training series) or a list of either; with several
    runs the site holds compare mode and scrubbing through the series (the comparisons the app
    asks for). `layers` / `heads` keep only those heads of each run (the others show as empty cells); `layouts` keeps only
    those layout keys ("tsne.2d") or methods ("tsne"). `out` must be empty or missing unless
    `overwrite`. `progress(files done, files in all, bytes written)` is called after each file.
    """
    from attentionviz.hosts.server import STATIC_DIR
    from attentionviz.readmodel import routes

    paths = [runs] if isinstance(runs, str | Path) else list(runs)
    registry = RunRegistry(paths)
    site = Path(out).expanduser()
    if site.exists() and any(site.iterdir()):
        if not overwrite:
            raise AttentionVizError(f"{site} is not empty; pick a new folder or pass --overwrite")
        shutil.rmtree(site)
    if not (Path(STATIC_DIR) / "index.html").exists():
        raise AttentionVizError(
            "the web app is not built into this install; reinstall attentionviz, or run "
            "`npm ci && npm run build` in frontend/"
        )
    wanted_layers = None if layers is None else list(layers)
    wanted_heads = None if heads is None else list(heads)
    selected = {
        registry.get(run_id).path: frozenset(_select(registry.get(run_id), wanted_layers, wanted_heads))
        for run_id in registry.ids()
    }
    scope = Scope(
        registry,
        selected=lambda run: selected[run.path],
        keeps=_layout_filter(layouts),
        pending=False,
    )
    run_ids = scope.run_ids()
    if not any(read.layout_availability(scope, run_id) for run_id in run_ids):
        raise AttentionVizError("nothing to export: no selected head has a selected layout")
    shutil.copytree(STATIC_DIR, site)
    api = site / "api"
    # the records listing runs are written once; every run's own files after them
    plan = [
        (route, params)
        for index, run_id in enumerate(run_ids)
        for route, params in routes.export_plan(scope, run_id)
        if index == 0 or "run" in params
    ]
    writer = _Writer()
    for done, (route, params) in enumerate(plan, start=1):
        written = routes.export_file(scope, route, params)
        if written is not None:
            target = api / written[0]
            if not target.resolve().is_relative_to(api.resolve()):
                raise AttentionVizError(f"refusing to write {target} outside the site's api/ folder")
            writer.write(target, _encode(route, written[1]))
        if progress is not None:
            progress(done, len(plan), writer.total)
    log.info("exported %s: %d files, %d bytes", site, writer.files, writer.total)
    return ExportSummary(site, writer.files, writer.total, sum(len(heads) for heads in selected.values()))


def _encode(route: Any, payload: Any) -> bytes:
    from pydantic import TypeAdapter

    from attentionviz.readmodel.routes import Json

    if isinstance(route.response, Json):
        value = TypeAdapter(route.response.type).dump_python(payload, mode="json")
        return json.dumps(value, separators=(",", ":")).encode()
    return bytes(payload)


class _Writer:
    def __init__(self) -> None:
        self.files = 0
        self.total = 0

    def write(self, path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.files += 1
        self.total += len(data)


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


def _layout_filter(layouts: Iterable[str] | None) -> Callable[[Layout], bool]:
    """Keep the layouts named by key ("pca.3d") or by method ("tsne"); None keeps every layout."""
    if layouts is None:
        return lambda layout: True
    wanted = [split_spec(name) for name in layouts if name.strip()]
    return lambda layout: any(m == layout.method and d in (None, layout.dim) for m, d in wanted)
