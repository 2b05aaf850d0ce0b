"""The read model's routes, declared once.

Each route has a name, a path under `/api`, typed parameters, a response (a JSON record, a binary
frame with typed metadata and named buffers, or a PNG), the function that builds its payload
against a `Scope`, and the files a static export writes for it. From this table:

- the FastAPI app registers its routes (`hosts/server.py`),
- the static export writes its files (`hosts/export/folder.py`),
- `frontend/src/data/api.gen.ts` is generated: URL builders, record and frame-metadata interfaces
  (`typescript.py`; a test fails when the file is stale).

Changing a path is one edit here; a new route is one entry here (and a method in the frontend's
data source that calls its generated URL builder).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from typing import Any

from attentionviz.errors import AttentionVizError
from attentionviz.layouts import METHOD_PATTERN, Layout
from attentionviz.readmodel import atlas, attention, compare, layouts, runs, tables
from attentionviz.readmodel.models import (
    AggregateMeta,
    Alignments,
    ApiInfo,
    AttentionMeta,
    Comparison,
    FrameMeta,
    HeadDetails,
    HeadMapMeta,
    HeadRowsMeta,
    KeysNeededMeta,
    LayerRowsMeta,
    LodOrderMeta,
    MetricsMeta,
    RelatedHead,
    RunDetails,
    RunSummary,
    SequenceMeta,
    SequencesMeta,
    TokensMeta,
)
from attentionviz.readmodel.scope import Scope

# --- parameters ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """A path or query parameter. `kind` says how it is written in a URL and read back:

    int     a whole number (path segments: at most 9 digits)
    str     any text (a path segment: no '/')
    layout  a layout key, `METHOD.2d` / `METHOD.3d`, read as a `Layout`
    ints    comma-separated whole numbers, read as a list
    """

    name: str
    kind: str
    description: str
    required: bool = True
    default: Any = None
    pattern: str | None = None  # query values: a regular expression the whole value must match
    minimum: int | None = None
    max_length: int | None = None


INT_SEGMENT = r"[0-9]{1,9}"  # more digits would be no index of a run (and a 500 for Python's int())
LAYOUT_SEGMENT = rf"{METHOD_PATTERN}\.[23]d"

PATH_PARAMS = {
    "run": Param("run", "str", "a run id, as `GET /api/runs` lists them"),
    "other": Param("other", "str", "the run compared with (a run id of this server)"),
    "layer": Param("layer", "int", "layer index"),
    "head": Param("head", "int", "query head index"),
    "seq": Param("seq", "int", "sequence index (capture order)"),
    "layout": Param("layout", "layout", "a layout key, METHOD.2d or METHOD.3d (e.g. tsne.2d)"),
    "map": Param("map", "str", "how the head map is laid out: umap or pca"),
}

ORDER = Param(
    "order",
    "str",
    "row order: token order, or level-of-detail order",
    required=False,
    default="token",
    pattern="^(token|lod)$",
)
LIMIT = Param("limit", "int", "send only the first `limit` rows (a LOD prefix)", required=False, minimum=1)
START = Param(
    "start", "int", "first row of the level-of-detail order to send", required=False, default=0, minimum=0
)
HEADS = Param(
    "heads",
    "ints",
    "comma-separated heads to send (default: every head of the layer with the data)",
    required=False,
    pattern=r"^[0-9]{1,6}(,[0-9]{1,6})*$",
    max_length=4000,
)
ROW_START = Param(
    "start", "int", "first query row of the sequence to send", required=False, default=0, minimum=0
)
ROW_LIMIT = Param(
    "limit", "int", "send at most `limit` query rows (default: every row)", required=False, minimum=1
)
TOKENS = Param(
    "tokens",
    "ints",
    "comma-separated token indices: send their query and key rows instead of a LOD slice",
    required=False,
    pattern=r"^[0-9]{1,9}(,[0-9]{1,9})*$",
    max_length=12000,
)


# --- responses -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Json:
    """A JSON response of this type (a record model, or a list / dict of them)."""

    type: Any


@dataclass(frozen=True)
class Buffer:
    """A named buffer of a frame, as the frontend decodes it (quantised floats come back as float32).

    A name may hold `{head}`: one buffer per head.
    """

    name: str
    dtype: str
    shape: str
    description: str = ""


@dataclass(frozen=True)
class FrameOf:
    """An AVZ1 frame (`frames.Frame`): typed metadata and named buffers."""

    meta: type[FrameMeta]
    buffers: tuple[Buffer, ...]
    description: str = ""


@dataclass(frozen=True)
class Png:
    description: str


Response = Json | FrameOf | Png


# --- the table -----------------------------------------------------------------------------------

Handler = Callable[..., Any]
#: the handler kwargs of each file a static export writes for a route
Exporter = Callable[[Scope, str], Iterable[dict[str, Any]]]


@dataclass(frozen=True)
class Route:
    name: str  # snake_case; the TypeScript URL builder is its camelCase
    path: str  # under /api; `{name}` is a path parameter (PATH_PARAMS)
    summary: str
    tag: str
    response: Response
    handler: Handler  # handler(scope, **path and query parameters) -> the payload
    query: tuple[Param, ...] = ()
    export: Exporter | None = None  # None: a static export does not write it
    #: an export skips a file whose handler raises AttentionVizError (the run lacks that data)
    optional: bool = False

    @property
    def path_params(self) -> list[Param]:
        return [PATH_PARAMS[name] for name in re.findall(r"\{(\w+)\}", self.path)]

    def url(self, **params: Any) -> str:
        """The path with its parameters filled in (no query string)."""
        return re.sub(r"\{(\w+)\}", lambda m: str(_url_value(params[m[1]])), self.path)


def _url_value(value: Any) -> Any:
    return value.key if isinstance(value, Layout) else value


# Exporters: what a static export writes, for a scope over one run.


def _once(scope: Scope, run_id: str) -> Iterator[dict[str, Any]]:
    yield {}


def _per_run(scope: Scope, run_id: str) -> Iterator[dict[str, Any]]:
    yield {"run": run_id}


def _per_head(**extra: Any) -> Exporter:
    def files(scope: Scope, run_id: str) -> Iterator[dict[str, Any]]:
        for layer, head in scope.heads(scope.run(run_id)):
            yield {"run": run_id, "layer": layer, "head": head, **extra}

    return files


def _per_head_layout(scope: Scope, run_id: str) -> Iterator[dict[str, Any]]:
    run = scope.run(run_id)
    for layer, head in scope.heads(run):
        for layout in run.head(layer, head).layouts():
            if scope.keeps(layout):
                yield {"run": run_id, "layer": layer, "head": head, "layout": layout, "order": "lod"}


def _per_head_sequence(scope: Scope, run_id: str) -> Iterator[dict[str, Any]]:
    run = scope.run(run_id)
    for layer, head in scope.heads(run):
        for seq in range(run.info.n_sequences):
            # every row; uint16 over [0, 1]: half the size, within 7.6e-6 of the model's attention
            yield {
                "run": run_id,
                "layer": layer,
                "head": head,
                "seq": seq,
                "start": 0,
                "limit": None,
                "quantized": True,
            }


def _layers(scope: Scope, run_id: str) -> dict[int, list[int]]:
    """layer -> the heads of it the scope shows."""
    by_layer: dict[int, list[int]] = {}
    for layer, head in scope.heads(scope.run(run_id)):
        by_layer.setdefault(layer, []).append(head)
    return by_layer


def _per_layer(scope: Scope, run_id: str) -> Iterator[dict[str, Any]]:
    for layer, heads in _layers(scope, run_id).items():
        yield {"run": run_id, "layer": layer, "heads": heads}


def _per_layer_layout(scope: Scope, run_id: str) -> Iterator[dict[str, Any]]:
    """The Matrix View's one request per layer and 2D layout that some head of the layer has."""
    run = scope.run(run_id)
    availability = runs.layout_availability(scope, run_id)
    for layer, heads in _layers(scope, run_id).items():
        for key, indices in availability.items():
            layout = Layout.parse(key)
            if layout.dim == 2 and any(i // run.info.heads == layer for i in indices):
                yield {"run": run_id, "layer": layer, "layout": layout, "heads": heads}


def _per_layout(scope: Scope, run_id: str) -> Iterator[dict[str, Any]]:
    """Every layout (2D and 3D) some head of the run has."""
    for key in runs.layout_availability(scope, run_id):
        yield {"run": run_id, "layout": Layout.parse(key)}


def _per_pair_layout(scope: Scope, run_id: str) -> Iterator[dict[str, Any]]:
    """Every layout both runs of a pair compared head by head have (matched runs are not aligned)."""
    mine = runs.layout_availability(scope, run_id)
    for pair in compare.compare_pairs(scope, run_id):
        if not compare.comparable(scope, run_id, pair["other"]):
            continue
        theirs = runs.layout_availability(scope, pair["other"])
        for key in mine:
            if mine[key] and theirs.get(key):
                yield {**pair, "layout": Layout.parse(key)}


def _per_image(scope: Scope, run_id: str) -> Iterator[dict[str, Any]]:
    run = scope.run(run_id)
    if run.info.kind == "image":
        for seq in range(run.info.n_sequences):
            yield {"run": run_id, "seq": seq}


def _image_run(scope: Scope, run_id: str) -> Iterator[dict[str, Any]]:
    if scope.run(run_id).info.kind == "image":
        yield {"run": run_id}


def _head_maps(scope: Scope, run_id: str) -> Iterator[dict[str, Any]]:
    from attentionviz.analysis.headmap import MAP_METHODS

    for method in MAP_METHODS:
        yield {"map": method}


def _per_head_value_layout(scope: Scope, run_id: str) -> Iterator[dict[str, Any]]:
    run = scope.run(run_id)
    for layer, head in scope.heads(run):
        for key in atlas.value_layouts(run.head(layer, head)):
            layout = Layout.parse(key)
            if scope.keeps(layout):
                yield {"run": run_id, "layer": layer, "head": head, "layout": layout}


def _per_head_probe(scope: Scope, run_id: str) -> Iterator[dict[str, Any]]:
    """The first probe sequence of every head (what the app shows), uint16 like sequence attention."""
    if atlas.probe_count(scope.run(run_id)):
        for params in _per_head()(scope, run_id):
            yield {**params, "seq": 0, "quantized": True}


def _probed_run(scope: Scope, run_id: str) -> Iterator[dict[str, Any]]:
    if atlas.probe_count(scope.run(run_id)):
        yield {"run": run_id}


ROWS_BUFFER = Buffer("rows", "uint32", "[rows]", "with `tokens`: the layout rows sent (query t, key N + t)")
TOKEN_BUFFERS = (
    Buffer("token", "uint32", "[n_tokens]", "code into token.values"),
    Buffer("token.values", "utf8", "[n_unique]", "the distinct token strings"),
    Buffer("sequence", "int32", "[n_tokens]"),
    Buffer("position", "int32", "[n_tokens]"),
    Buffer("seq_len", "int32", "[n_tokens]"),
    Buffer("char_start", "int32", "[n_tokens]"),
    Buffer("char_end", "int32", "[n_tokens]"),
    Buffer("patch_row", "int16", "[n_tokens]", "image runs"),
    Buffer("patch_col", "int16", "[n_tokens]", "image runs"),
    Buffer("special", "uint8", "[n_tokens]"),
)
SEQUENCE_BUFFERS = (
    Buffer("text", "utf8", "[n_sequences]"),
    Buffer("n_tokens", "int32", "[n_sequences]"),
    Buffer("token_start", "uint32", "[n_sequences]"),
    Buffer("document", "int32", "[n_sequences]"),
)
ATTENTION_BUFFERS = (
    Buffer("attention", "float32", "[n_rows * len]", "row-major [n_rows, len] from row row_start"),
    Buffer("value_norms", "float32", "[len]", "where the run has them"),
)
HEAD = "/runs/{run}/layers.{layer}.heads.{head}"

ROUTES: tuple[Route, ...] = (
    Route(
        "api_info",
        "",
        "Server version and run ids",
        "runs",
        Json(ApiInfo),
        lambda scope: runs.api_info(scope),
        export=_once,
    ),
    Route(
        "list_runs",
        "/runs",
        "Every run this server shows",
        "runs",
        Json(list[RunSummary]),
        lambda scope: runs.list_runs(scope),
        export=_once,
    ),
    Route(
        "run_details",
        "/runs/{run}",
        "A run's model, sizes and which heads have which layouts",
        "runs",
        Json(RunDetails),
        lambda scope, run: runs.run_details(scope, run),
        export=_per_run,
    ),
    Route(
        "layouts",
        "/runs/{run}/layouts",
        "For each layout (`tsne.2d`), the heads that have it (index = layer * heads + head)",
        "runs",
        Json(dict[str, list[int]]),
        lambda scope, run: runs.layout_availability(scope, run),
        export=_per_run,
    ),
    Route(
        "tokens",
        "/runs/{run}/tokens",
        "The token table: `token` codes into `token.values`, sequence, position, seq_len, ...",
        "arrays",
        FrameOf(TokensMeta, TOKEN_BUFFERS),
        lambda scope, run: tables.tokens_frame(scope.run(run)),
        export=_per_run,
    ),
    Route(
        "sequences",
        "/runs/{run}/sequences",
        "The sequence table: text, n_tokens, token_start, document",
        "arrays",
        FrameOf(SequencesMeta, SEQUENCE_BUFFERS),
        lambda scope, run: tables.sequences_frame(scope.run(run)),
        export=_per_run,
    ),
    Route(
        "lod_order",
        "/runs/{run}/lod-order",
        "[2N] uint32 layout rows in level-of-detail order (the same for every head)",
        "arrays",
        FrameOf(LodOrderMeta, (Buffer("order", "uint32", "[2 * n_tokens]"),)),
        lambda scope, run: tables.lod_order_frame(scope.run(run)),
        export=_per_run,
    ),
    Route(
        "head_details",
        HEAD,
        "One head: its layouts, metrics and fidelity",
        "heads",
        Json(HeadDetails),
        lambda scope, run, layer, head: runs.head_details(scope, scope.head(run, layer, head)),
        export=_per_head(),
    ),
    Route(
        "head_norms",
        HEAD + "/norms",
        "[2N] query then key vector norms, quantised uint16",
        "heads",
        FrameOf(HeadRowsMeta, (Buffer("norms", "float32", "[rows]"),)),
        lambda scope, run, layer, head, order, limit: layouts.norms_frame(
            scope.head(run, layer, head), order=order, limit=limit
        ),
        query=(ORDER, LIMIT),
        export=_per_head(order="lod"),
    ),
    Route(
        "head_layout",
        HEAD + "/{layout}",
        "One layout, [rows, dim] quantised uint16 over its bounds: queries 0..N-1, keys N..2N-1",
        "heads",
        FrameOf(HeadRowsMeta, (Buffer("coords", "float32", "[rows, dim]"),)),
        lambda scope, run, layer, head, layout, order, limit: layouts.layout_frame(
            scope.head(run, layer, head), layout, order=order, limit=limit
        ),
        query=(ORDER, LIMIT),
        export=_per_head_layout,
    ),
    Route(
        "layer_norms",
        "/runs/{run}/layers.{layer}/norms",
        "Every head of a layer: [rows] query-then-key norms per head (`heads.{h}`), quantised uint16",
        "layers",
        FrameOf(LayerRowsMeta, (ROWS_BUFFER, Buffer("heads.{head}", "float32", "[rows]"))),
        lambda scope, run, layer, start, limit, heads, tokens: layouts.layer_norms_frame(
            scope.run(run), layer, start=start, limit=limit, heads=heads, tokens=tokens
        ),
        query=(START, LIMIT, HEADS, TOKENS),
        export=_per_layer,
    ),
    Route(
        "layer_layout",
        "/runs/{run}/layers.{layer}/{layout}",
        "Every head of a layer with this layout, one frame: `heads.{h}` [rows, dim] uint16 over "
        "the head's whole-layout bounds; rows = LOD rows [start, start + limit), or the given tokens' rows",
        "layers",
        FrameOf(LayerRowsMeta, (ROWS_BUFFER, Buffer("heads.{head}", "float32", "[rows, dim]"))),
        lambda scope, run, layer, layout, start, limit, heads, tokens: layouts.layer_layout_frame(
            scope.run(run), layer, layout, start=start, limit=limit, heads=heads, tokens=tokens
        ),
        query=(START, LIMIT, HEADS, TOKENS),
        export=_per_layer_layout,
    ),
    Route(
        "sequence_attention",
        HEAD + "/attention/{seq}",
        "[rows, len] float32: the model's own attention for one sequence (rows: queries), derived from "
        "the stored q and k; every row, or rows [start, start + limit)",
        "attention",
        FrameOf(AttentionMeta, ATTENTION_BUFFERS),
        lambda scope, run, layer, head, seq, start, limit, quantized=False: (
            attention.sequence_attention_frame(
                scope.head(run, layer, head), seq, start=start, limit=limit, quantized=quantized
            )
        ),
        query=(ROW_START, ROW_LIMIT),
        export=_per_head_sequence,
        optional=True,
    ),
    Route(
        "aggregate",
        HEAD + "/aggregate",
        "[P, P] float32 position x position attention averaged over the sequences with both "
        "positions, and `count` (how many); P = min(longest sequence, 256), computed by the capture",
        "attention",
        FrameOf(
            AggregateMeta,
            (Buffer("attention", "float32", "[L * L]"), Buffer("count", "int32", "[L * L]")),
        ),
        lambda scope, run, layer, head: attention.aggregate_attention_frame(scope.head(run, layer, head)),
        export=_per_head(),
        optional=True,
    ),
    Route(
        "value_norms",
        HEAD + "/value-norms/{seq}",
        "[len] float32 value-vector norms of one sequence's tokens",
        "attention",
        FrameOf(SequenceMeta, (Buffer("value_norms", "float32", "[len]"),)),
        lambda scope, run, layer, head, seq: attention.value_norms_frame(scope.head(run, layer, head), seq),
    ),
    Route(
        "run_alignments",
        "/runs/{run}/alignments/{layout}",
        "Layer and head scrubbing: for every head, the Procrustes transforms laying its layout over "
        "the head above it (layer - 1) and the head left of it (head - 1)",
        "compare",
        Json(Alignments),
        lambda scope, run, layout: compare.run_alignments(scope, run, layout),
        export=_per_layout,
    ),
    Route(
        "comparison",
        "/runs/{run}/compare/{other}",
        "How every head changed from this run to the other (one architecture, shared sequences): "
        "drift, the attention part (mean Jensen-Shannon divergence), the fingerprint part and the layout "
        "part (Procrustes residual); for runs of different models or corpora (kind match), each head's "
        "nearest heads of the other run by fingerprint",
        "compare",
        Json(Comparison),
        lambda scope, run, other: compare.comparison(scope, run, other),
        export=compare.compare_pairs,
    ),
    Route(
        "compare_alignments",
        "/runs/{run}/compare/{other}/{layout}",
        "For every head, the Procrustes transform laying the other run's head over this run's, over "
        "the tokens of their shared sequences",
        "compare",
        Json(Alignments),
        lambda scope, run, other, layout: compare.compare_alignments(scope, run, other, layout),
        export=_per_pair_layout,
    ),
    Route(
        "image",
        "/runs/{run}/images/{seq}.png",
        "An image run's image, as the model saw it",
        "attention",
        Png("the image as the model saw it"),
        lambda scope, run, seq: attention.image_png(scope.run(run), seq),
        export=_per_image,
    ),
    Route(
        "patches",
        "/runs/{run}/patches.png",
        "An image run's patch atlas: every token's patch as a 16 x 16 tile, C = width / 16 columns",
        "attention",
        Png("16 x 16 tiles, token t at (t % C, t // C)"),
        lambda scope, run: attention.patch_atlas_png(scope.run(run)),
        export=_image_run,
    ),
)

ATLAS_ROUTES: tuple[Route, ...] = (
    Route(
        "run_metrics",
        "/runs/{run}/metrics",
        "Every head's metrics in one table (entropy, previous, induction, importance, ...)",
        "atlas",
        FrameOf(
            MetricsMeta,
            (Buffer("values", "float32", "[layers * heads, columns]", "NaN where a head lacks the metric"),),
        ),
        lambda scope, run: atlas.metrics_frame(scope, run),
        export=_per_run,
    ),
    Route(
        "head_map",
        "/headmap/{map}",
        "Every head of every run shown, one point each, placed by its fingerprint (umap or pca)",
        "atlas",
        FrameOf(
            HeadMapMeta,
            (
                Buffer("run", "int32", "[n]", "index into meta.runs"),
                Buffer("layer", "int32", "[n]"),
                Buffer("head", "int32", "[n]"),
                Buffer("coords", "float32", "[n, 2]"),
                Buffer("values", "float32", "[n, columns]", "the metrics; NaN where a head lacks one"),
            ),
        ),
        lambda scope, map: atlas.head_map_frame(scope, map),
        export=_head_maps,
    ),
    Route(
        "related_heads",
        HEAD + "/related",
        "The five heads nearest this one on the fingerprint, in every run shown",
        "atlas",
        Json(list[RelatedHead]),
        lambda scope, run, layer, head: atlas.related_heads(scope, run, layer, head),
        export=_per_head(),
    ),
    Route(
        "keys_needed",
        HEAD + "/keys-needed",
        "[N] uint16, token order: how many keys hold 90% of each token's query's attention",
        "atlas",
        FrameOf(KeysNeededMeta, (Buffer("keys", "uint16", "[n_tokens]"),)),
        lambda scope, run, layer, head: atlas.keys_needed_frame(scope.head(run, layer, head)),
        export=_per_head(),
    ),
    Route(
        "value_layout",
        HEAD + "/values/{layout}",
        "The head's KV group's value vectors laid out, [N, 2] token order, with their norms",
        "atlas",
        FrameOf(
            HeadRowsMeta,
            (Buffer("coords", "float32", "[n_tokens, 2]"), Buffer("norms", "float32", "[n_tokens]")),
        ),
        lambda scope, run, layer, head, layout: atlas.value_layout_frame(
            scope.head(run, layer, head), layout
        ),
        export=_per_head_value_layout,
    ),
    Route(
        "probe_tokens",
        "/runs/{run}/probes/tokens",
        "The probe sequences' token table (as /tokens)",
        "atlas",
        FrameOf(TokensMeta, TOKEN_BUFFERS),
        lambda scope, run: tables.tokens_frame(atlas.probes_run(scope.run(run))),
        export=_probed_run,
    ),
    Route(
        "probe_sequences",
        "/runs/{run}/probes/sequences",
        "The probe sequences (as /sequences)",
        "atlas",
        FrameOf(SequencesMeta, SEQUENCE_BUFFERS),
        lambda scope, run: tables.sequences_frame(atlas.probes_run(scope.run(run))),
        export=_probed_run,
    ),
    Route(
        "probe_attention",
        HEAD + "/probes/{seq}",
        "[len, len] float32: the head's attention on one probe sequence (rows: queries; every row)",
        "atlas",
        FrameOf(AttentionMeta, ATTENTION_BUFFERS),
        lambda scope, run, layer, head, seq, quantized=False: atlas.probe_attention(
            scope, run, layer, head, seq, quantized=quantized
        ),
        export=_per_head_probe,
    ),
)
ROUTES = ROUTES + ATLAS_ROUTES

BY_NAME = {route.name: route for route in ROUTES}


def call(route: Route, scope: Scope, params: dict[str, Any]) -> Any:
    """The route's payload for already-typed parameters (missing query parameters take their defaults)."""
    values = {p.name: p.default for p in route.query}
    values.update(params)
    return route.handler(scope, **values)


def export_plan(scope: Scope, run_id: str) -> list[tuple[Route, dict[str, Any]]]:
    """(route, handler parameters) of every file a static export of `run_id` writes."""
    return [
        (route, params)
        for route in ROUTES
        if route.export is not None
        for params in route.export(scope, run_id)
    ]


def export_file(scope: Scope, route: Route, params: dict[str, Any]) -> tuple[str, Any] | None:
    """(path under api/, payload) of one planned file; None when the run lacks an optional one."""
    try:
        payload = call(route, scope, params)
    except AttentionVizError:
        if not route.optional:
            raise
        return None
    path = route.url(**params).strip("/")
    if route.path in folder_paths():
        path = f"{path}/index.html" if path else "index.html"
    return path, payload


def folder_paths() -> frozenset[str]:
    """Path templates that other routes' paths lie below: a static export writes those as `index.html`."""
    return _folders(tuple(route.path for route in ROUTES))


@cache
def _folders(templates: tuple[str, ...]) -> frozenset[str]:
    return frozenset(t for t in templates if any(other.startswith(t + "/") for other in templates))
