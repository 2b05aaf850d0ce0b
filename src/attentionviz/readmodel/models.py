"""Every shape the read model sends, declared once: JSON records and the metadata of binary frames.

The route table (`routes.py`) names these as its responses; the server validates its JSON with them,
the static export writes them, and `typescript.py` generates their TypeScript interfaces into
`frontend/src/data/api.gen.ts`. A field added here reaches all four.

Frame metadata is dumped without its unset (None) fields, so a field that only some frames of a
kind carry is declared `X | None = None`.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict


class Record(BaseModel):
    """A JSON record (a response of its own)."""

    model_config = ConfigDict(extra="forbid")


class FrameMeta(BaseModel):
    """The JSON `meta` of a binary frame (`frames.Frame`)."""

    model_config = ConfigDict(extra="forbid")


# --- records -------------------------------------------------------------------------------------


class LayoutMethod(Record):
    """A layout method of the reducer registry, as the app lists it."""

    id: str
    label: str
    #: dimensions the method makes only when asked for by name (slow for what they add)
    on_request: list[int]


class ApiInfo(Record):
    name: str
    version: str
    runs: list[str]


class RunSummary(Record):
    id: str
    model: str
    kind: str
    layers: int
    heads: int
    n_tokens: int
    n_sequences: int
    #: a run built while training (`attentionviz.build_step`): its series (folder name) and step
    series: str | None = None
    step: int | None = None


class RunDetails(RunSummary):
    architecture: str
    corpus: str
    kv_heads: int
    head_dim: int
    kv_map: list[int]
    image_grid: list[int] | None
    special_tokens: list[str]
    created: str
    version: str
    #: layout key ("tsne.2d") -> the heads that have it (index = layer * heads + head)
    layouts: dict[str, list[int]]
    #: layout key -> the heads whose layout is still a coarse one (made on the head's level-of-detail
    #: sample while `embed` runs; replaced by the full layout, sample rows in place, when it lands)
    coarse: dict[str, list[int]]
    #: heads whose keys the automatic normalisation rule left untranslated (index as in `layouts`)
    untranslated: list[int]
    #: probe sequences captured beside the corpus (`/runs/{run}/probes/...`); 0: none
    probes: int = 0


class HeadDetails(Record):
    name: str
    layer: int
    head: int
    kv_head: int
    layouts: list[str]
    layout_meta: dict[str, dict[str, Any]]
    metrics: dict[str, Any]
    fidelity: dict[str, Any]
    #: value-vector layouts of the head's KV group (runs built with --values): "pca.2d", ...
    value_layouts: list[str] = []


class RelatedHead(Record):
    """A head near another on the fingerprint (`distance`: euclidean, standardised features)."""

    run: str
    layer: int
    head: int
    distance: float


class HeadMatch(Record):
    """A head of the other run near this one on the fingerprint (`analysis.matching`)."""

    layer: int
    head: int
    distance: float  # euclidean, in the fingerprint space standardised over both runs' heads


class HeadDrift(Record):
    """How one head changed from the run to the other run (`analysis.compare`), or, for runs of
    different models or corpora, the other run's heads that match it; null: not computed."""

    layer: int
    head: int
    drift: float | None
    attention: float | None  # mean Jensen-Shannon divergence of each query's attention, 0..1
    fingerprint: float | None  # how far the head's fingerprint moved, d / (d + typical gap), 0..1
    layout: float | None  # Procrustes residual of the other run's layout aligned to this run's, 0..1
    matches: list[HeadMatch]  # kind "match": the other run's nearest heads, nearest first


class Comparison(Record):
    """Every head of a run against the same head of another run of its architecture and corpus
    (kind "drift"), or against its nearest heads of another model's run (kind "match")."""

    run: str
    other: str
    kind: str  # "drift": head by head; "match": heads matched by fingerprint
    why: str  # kind "match": why the runs are not compared head by head
    layout: str | None  # the layout of the layout part
    shared_sequences: int
    shared_tokens: int
    compared_sequences: int
    heads: list[HeadDrift]


class Transform(Record):
    """x -> scale * x @ rotation + shift: one layout's coordinates laid over another's (Procrustes)."""

    rotation: list[list[float]]  # [dim, dim]
    scale: float
    shift: list[float]  # [dim]
    residual: float  # 0..1: what no rotation, reflection, scale and shift explains


class HeadAlignment(Record):
    """One head's layout laid over others' (null where a head lacks the layout)."""

    layer: int
    head: int
    #: compare: the other run's head (layer, head) onto this run's
    other: Transform | None = None
    #: scrubbing within a run: this head onto (layer - 1, head), and onto (layer, head - 1)
    previous_layer: Transform | None = None
    previous_head: Transform | None = None


class Alignments(Record):
    """Procrustes transforms over the tokens both layouts hold, for one layout key."""

    run: str
    other: str | None  # None: within the run (scrubbing through layers and heads)
    layout: str
    heads: list[HeadAlignment]


class Problem(Record):
    detail: str


# --- frame metadata ------------------------------------------------------------------------------


class TokensMeta(FrameMeta):
    n_tokens: int


class SequencesMeta(FrameMeta):
    n_sequences: int


class LodOrderMeta(FrameMeta):
    n_tokens: int


class HeadRowsMeta(FrameMeta):
    """One head's layout or norms rows, in token order or level-of-detail order."""

    name: str
    layout: str | None = None  # layout frames only
    order: str  # "token" | "lod"
    rows: int
    n_points: int | None = None  # layout frames only
    n_tokens: int


class LayerRowsMeta(FrameMeta):
    """Rows of every head of one layer: LOD rows [start, start + rows), or given tokens' rows."""

    layer: int
    heads: list[int]
    order: str  # "lod" | "tokens"
    start: int
    rows: int
    n_points: int
    n_tokens: int
    layout: str | None = None  # layout frames only


class SequenceMeta(FrameMeta):
    """One sequence of one head (attention, value norms)."""

    name: str
    sequence: int
    token_start: int
    n_tokens: int


class AttentionMeta(SequenceMeta):
    """Query rows row_start..row_start+n_rows of one sequence's [n_tokens, n_tokens] attention."""

    row_start: int
    n_rows: int


class AggregateMeta(FrameMeta):
    name: str
    max_len: int  # the positions the aggregate covers (at most 256: longer sequences' first ones)


class MetricsMeta(FrameMeta):
    """Every head's metrics: `values` [layers * heads, columns], row = layer * heads + head, NaN where missing."""

    layers: int
    heads: int
    columns: list[str]


class HeadMapMeta(FrameMeta):
    """Every head of the runs shown, one point each: `run` indexes `runs`; `values` [n, columns]."""

    method: str
    runs: list[str]
    columns: list[str]
    n: int


class KeysNeededMeta(FrameMeta):
    """How many keys hold `mass` of each query's attention (token order)."""

    name: str
    n_tokens: int
    mass: float
