"""The JSON records about runs and heads: what exists, its sizes, which heads have which layouts."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from attentionviz import __version__
from attentionviz.layouts import Layout
from attentionviz.readmodel import atlas
from attentionviz.readmodel.models import ApiInfo, HeadDetails, LayoutMethod, RunDetails, RunSummary
from attentionviz.readmodel.scope import Scope
from attentionviz.store import head_outputs, names
from attentionviz.store.reader import Head, Run


def api_info(scope: Scope) -> ApiInfo:
    return ApiInfo(name="attentionviz", version=__version__, runs=scope.run_ids())


def run_summary(run_id: str, run: Run) -> RunSummary:
    from attentionviz.analysis.series import training_step

    info = run.info
    step = training_step(run)
    return RunSummary(
        id=run_id,
        model=info.model,
        kind=info.kind,
        layers=info.layers,
        heads=info.heads,
        n_tokens=info.n_tokens,
        n_sequences=info.n_sequences,
        series=step[0] if step else None,
        step=step[1] if step else None,
    )


def list_runs(scope: Scope) -> list[RunSummary]:
    return [run_summary(run_id, scope.run(run_id)) for run_id in scope.run_ids()]


def run_details(scope: Scope, run_id: str) -> RunDetails:
    run = scope.run(run_id)
    m = run.manifest
    return RunDetails(
        **run_summary(run_id, run).model_dump(),
        architecture=m.model.architecture,
        corpus=m.corpus.source,
        kv_heads=m.n_kv_heads,
        head_dim=m.head_dim,
        kv_map=list(m.kv_map),
        image_grid=list(m.image_grid) if m.image_grid else None,
        special_tokens=list(m.special_tokens),
        created=m.created,
        version=m.version,
        layouts=layout_availability(scope, run_id),
        coarse=coarse_availability(scope, run_id),
        untranslated=untranslated_heads(scope, run_id),
        probes=atlas.probe_count(run),
    )


def layout_methods() -> list[LayoutMethod]:
    """The reducer registry's methods, in menu order."""
    from attentionviz.embed.reducers import REDUCERS

    return [LayoutMethod(id=r.name, label=r.label, on_request=list(r.on_request)) for r in REDUCERS.values()]


def layout_availability(scope: Scope, run_id: str) -> dict[str, list[int]]:
    """For each layout the scope shows, the heads that have it (index = layer * heads + head).

    Layouts an `embed` is computing are listed too (possibly with no head yet) when the scope
    shows pending layouts, so a viewer keeps polling; otherwise a layout no head has is left out.
    """
    run = scope.run(run_id)
    found: dict[Layout, list[int]] = {}
    for index, _layer, _head, present, _coarse in _head_layouts(scope, run):
        for layout in present:
            found.setdefault(layout, []).append(index)
    if scope.pending:
        for layout in head_outputs.pending_layouts(run.path):
            if scope.keeps(layout):
                found.setdefault(layout, [])
    for rows in found.values():
        rows.sort()
    return {layout.key: found[layout] for layout in sorted(found, key=_menu_order)}


def coarse_availability(scope: Scope, run_id: str) -> dict[str, list[int]]:
    """For each layout, the heads whose layout is still a coarse one (`embed/coarse.py`): an embed
    is refining them, and the app fetches each again when it leaves this list."""
    run = scope.run(run_id)
    found: dict[Layout, list[int]] = {}
    for index, _layer, _head, _present, coarse in _head_layouts(scope, run):
        for layout in coarse:
            found.setdefault(layout, []).append(index)
    return {layout.key: sorted(found[layout]) for layout in sorted(found, key=_menu_order)}


def untranslated_heads(scope: Scope, run_id: str) -> list[int]:
    """The heads whose keys the automatic rule left untranslated (index = layer * heads + head).

    Each layout's metadata records the normalisation its vectors had (`embed.joint.Joint.record`):
    `translate` false with the `rule` that decided it marks such a head (a head that soft-caps its
    logits is never translated, by no rule). One layout's record per head is read: a head's layouts
    share their normalisation.
    """
    run = scope.run(run_id)
    marked = []
    for index, layer, head, present, _coarse in _head_layouts(scope, run):
        if not present:
            continue
        record = head_outputs.load_layout_meta(run.path, layer, head, min(present)).get("normalisation")
        if isinstance(record, dict) and record.get("translate") is False and "rule" in record:
            marked.append(index)
    return marked


def _head_layouts(scope: Scope, run: Run) -> Iterator[tuple[int, int, int, set[Layout], set[Layout]]]:
    """(index, layer, head, its layouts the scope keeps, those of them still coarse) for every head
    the scope shows that has a folder."""
    info = run.info
    folders = _subfolders(names.head_dir(run.path, 0, 0).parent)
    for layer in range(info.layers):
        for head in range(info.heads):
            folder = folders.get(names.head_name(layer, head))
            if folder is None or not scope.shows(run, layer, head):
                continue
            with os.scandir(folder) as entries:  # one listing per head, not a stat per layout
                listed = {e.name for e in entries}
            present = {Layout.from_file_name(name) for name in listed}
            kept = {layout for layout in present if layout is not None and scope.keeps(layout)}
            coarse = {layout for layout in kept if layout.key + head_outputs.COARSE in listed}
            yield layer * info.heads + head, layer, head, kept, coarse


def _menu_order(layout: Layout) -> tuple[int, int, str]:
    """2D before 3D, then the registry's order."""
    return (layout.dim, *_method_order(layout))


def _method_order(layout: Layout) -> tuple[int, str]:
    """The registry's order; methods it does not know (an old run's, a removed one's) last."""
    from attentionviz.embed.reducers import REDUCERS

    order = {name: i for i, name in enumerate(REDUCERS)}
    return (order.get(layout.method, len(order)), layout.method)


def _subfolders(path: Path) -> dict[str, str]:
    if not path.is_dir():
        return {}
    with os.scandir(path) as entries:
        return {e.name: e.path for e in entries if e.is_dir()}


def head_details(scope: Scope, head: Head) -> HeadDetails:
    layouts = sorted(
        (layout for layout in head.layouts() if scope.keeps(layout)),
        key=lambda layout: (*_method_order(layout), layout.dim),
    )
    return HeadDetails(
        name=head.name,
        layer=head.layer,
        head=head.head,
        kv_head=head.kv_head,
        layouts=[layout.key for layout in layouts],
        layout_meta={
            layout.key: head_outputs.load_layout_meta(head.run.path, head.layer, head.head, layout)
            for layout in layouts
        },
        metrics={**head.metrics, **atlas.atlas_scores(head)},
        fidelity=head.fidelity,
        value_layouts=atlas.value_layouts(head),
    )
