"""The FastAPI app over one or more run folders: read-only JSON for records, binary frames for arrays.

    create_app(["runs/minilm"])  ->  FastAPI        serve(["runs/minilm"], port=8000)

Routes use the store's dotted names (`layers.3.heads.5`, `tsne.2d`); every array is an AVZ1
frame (`server.frames`). The built frontend (`server/static/`) is served at `/`.
"""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from attentionviz import __version__
from attentionviz.errors import AttentionVizError, RunNotFound
from attentionviz.server import attention, payloads
from attentionviz.server.frames import MEDIA_TYPE
from attentionviz.server.registry import RunRegistry

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"


class ApiInfo(BaseModel):
    name: str
    version: str
    runs: list[str]


class RunSummary(BaseModel):
    id: str
    model: str
    kind: str
    layers: int
    heads: int
    n_tokens: int
    n_sequences: int


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
    layouts: dict[str, list[int]]


class HeadDetails(BaseModel):
    name: str
    layer: int
    head: int
    kv_head: int
    layouts: list[str]
    layout_meta: dict[str, dict[str, Any]]
    metrics: dict[str, Any]
    fidelity: dict[str, Any]


class Problem(BaseModel):
    detail: str


_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such run, head, layout or array"},
    400: {"model": Problem, "description": "the run cannot answer this (damaged or unsupported)"},
}
_FRAME = {
    200: {
        "content": {MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
        "description": "an AVZ1 frame: magic, uint32 header length, JSON header, little-endian buffers "
        "(see attentionviz.server.frames)",
    },
    **_ERRORS,
}
Order = Annotated[
    str, Query(pattern="^(token|lod)$", description="row order: token order, or level-of-detail order")
]
Limit = Annotated[int | None, Query(ge=1, description="send only the first `limit` rows (a LOD prefix)")]
Start = Annotated[int, Query(ge=0, description="first row of the level-of-detail order to send")]
Heads = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9]{1,6}(,[0-9]{1,6})*$",
        max_length=4000,
        description="comma-separated heads to send (default: every head of the layer with the data)",
    ),
]
Tokens = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9]{1,9}(,[0-9]{1,9})*$",
        max_length=12000,
        description="comma-separated token indices: send their query and key rows instead of a LOD slice",
    ),
]


def _ints(text: str | None) -> list[int] | None:
    return None if text is None else [int(v) for v in text.split(",")]


def create_app(runs: Sequence[str | Path] | RunRegistry, *, static_dir: Path | None = STATIC_DIR) -> FastAPI:
    """A read-only app over `runs` (run folders or folders of runs)."""
    registry = runs if isinstance(runs, RunRegistry) else RunRegistry(runs)
    app = FastAPI(
        title="attentionviz",
        version=__version__,
        description="Read-only access to attentionviz runs: records as JSON, arrays as binary AVZ1 frames.",
    )
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=6)
    app.state.registry = registry
    # the first page load reads the token table: import the table libraries now, not in its request
    threading.Thread(target=_import_tables, name="attentionviz-warm", daemon=True).start()

    @app.exception_handler(RunNotFound)
    async def _not_found(request: Request, exc: RunNotFound) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(AttentionVizError)
    async def _bad(request: Request, exc: AttentionVizError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=400)

    def frame(build: Callable[[], bytes]) -> Response:
        return Response(build(), media_type=MEDIA_TYPE, headers={"Cache-Control": "no-cache"})

    @app.get("/api", response_model=ApiInfo, tags=["runs"], summary="Server version and run ids")
    def api_info() -> dict[str, Any]:
        return {"name": "attentionviz", "version": __version__, "runs": registry.refresh()}

    @app.get(
        "/api/runs", response_model=list[RunSummary], tags=["runs"], summary="Every run this server shows"
    )
    def list_runs() -> list[dict[str, Any]]:
        return [payloads.run_summary(run_id, registry.get(run_id)) for run_id in registry.refresh()]

    @app.get(
        "/api/runs/{run}",
        response_model=RunDetails,
        responses=_ERRORS,
        tags=["runs"],
        summary="A run's model, sizes and which heads have which layouts",
    )
    def run_details(run: str) -> dict[str, Any]:
        return payloads.run_details(run, registry.get(run))

    @app.get(
        "/api/runs/{run}/layouts",
        response_model=dict[str, list[int]],
        responses=_ERRORS,
        tags=["runs"],
        summary="For each layout (`tsne.2d`), the heads that have it (index = layer * heads + head)",
    )
    def layouts(run: str) -> dict[str, list[int]]:
        return payloads.layout_availability(registry.get(run))

    @app.get(
        "/api/runs/{run}/tokens",
        response_class=Response,
        responses=_FRAME,
        tags=["arrays"],
        summary="The token table: `token` codes into `token.values`, sequence, position, seq_len, ...",
    )
    def tokens(run: str) -> Response:
        return frame(lambda: payloads.tokens_frame(registry.get(run)))

    @app.get(
        "/api/runs/{run}/sequences",
        response_class=Response,
        responses=_FRAME,
        tags=["arrays"],
        summary="The sequence table: text, n_tokens, token_start, document",
    )
    def sequences(run: str) -> Response:
        return frame(lambda: payloads.sequences_frame(registry.get(run)))

    @app.get(
        "/api/runs/{run}/lod-order",
        response_class=Response,
        responses=_FRAME,
        tags=["arrays"],
        summary="[2N] uint32 layout rows in level-of-detail order (the same for every head)",
    )
    def lod_order(run: str) -> Response:
        return frame(lambda: payloads.lod_order_frame(registry.get(run)))

    @app.get(
        "/api/runs/{run}/layers.{layer:int}.heads.{head:int}",
        response_model=HeadDetails,
        responses=_ERRORS,
        tags=["heads"],
        summary="One head: its layouts, metrics and fidelity",
    )
    def head_details(run: str, layer: int, head: int) -> dict[str, Any]:
        return payloads.head_details(registry.get(run).head(layer, head))

    @app.get(
        "/api/runs/{run}/layers.{layer:int}.heads.{head:int}/norms",
        response_class=Response,
        responses=_FRAME,
        tags=["heads"],
        summary="[2N] query then key vector norms, quantised uint16",
    )
    def norms(run: str, layer: int, head: int, order: Order = "token", limit: Limit = None) -> Response:
        return frame(
            lambda: payloads.norms_frame(registry.get(run).head(layer, head), order=order, limit=limit)
        )

    @app.get(
        "/api/runs/{run}/layers.{layer:int}.heads.{head:int}/{method}.{dim:int}d",
        response_class=Response,
        responses=_FRAME,
        tags=["heads"],
        summary="One layout, [rows, dim] quantised uint16 over its bounds: queries 0..N-1, keys N..2N-1",
    )
    def layout(
        run: str, layer: int, head: int, method: str, dim: int, order: Order = "token", limit: Limit = None
    ) -> Response:
        payloads.check_layout_name(method, dim)
        return frame(
            lambda: payloads.layout_frame(
                registry.get(run).head(layer, head), method, dim, order=order, limit=limit
            )
        )

    @app.get(
        "/api/runs/{run}/layers.{layer:int}/norms",
        response_class=Response,
        responses=_FRAME,
        tags=["layers"],
        summary="Every head of a layer: [rows] query-then-key norms per head (`heads.{h}`), quantised uint16",
    )
    def layer_norms(
        run: str,
        layer: int,
        start: Start = 0,
        limit: Limit = None,
        heads: Heads = None,
        tokens: Tokens = None,
    ) -> Response:
        return frame(
            lambda: payloads.layer_norms_frame(
                registry.get(run), layer, start=start, limit=limit, heads=_ints(heads), tokens=_ints(tokens)
            )
        )

    @app.get(
        "/api/runs/{run}/layers.{layer:int}/{method}.{dim:int}d",
        response_class=Response,
        responses=_FRAME,
        tags=["layers"],
        summary="Every head of a layer with this layout, one frame: `heads.{h}` [rows, dim] uint16 over "
        "the head's whole-layout bounds; rows = LOD rows [start, start + limit), or the given tokens' rows",
    )
    def layer_layout(
        run: str,
        layer: int,
        method: str,
        dim: int,
        start: Start = 0,
        limit: Limit = None,
        heads: Heads = None,
        tokens: Tokens = None,
    ) -> Response:
        payloads.check_layout_name(method, dim)
        return frame(
            lambda: payloads.layer_layout_frame(
                registry.get(run),
                layer,
                method,
                dim,
                start=start,
                limit=limit,
                heads=_ints(heads),
                tokens=_ints(tokens),
            )
        )

    @app.get(
        "/api/runs/{run}/layers.{layer:int}.heads.{head:int}/attention/{seq:int}",
        response_class=Response,
        responses=_FRAME,
        tags=["attention"],
        summary="[len, len] float32: the model's own attention for one sequence (rows: queries)",
    )
    def sequence_attention(run: str, layer: int, head: int, seq: int) -> Response:
        return frame(lambda: attention.sequence_attention_frame(registry.get(run).head(layer, head), seq))

    @app.get(
        "/api/runs/{run}/layers.{layer:int}.heads.{head:int}/aggregate",
        response_class=Response,
        responses=_FRAME,
        tags=["attention"],
        summary="[L, L] float32 position x position attention averaged over the sequences with both "
        "positions, and `count` (how many)",
    )
    def aggregate(run: str, layer: int, head: int) -> Response:
        return frame(lambda: attention.aggregate_attention_frame(registry.get(run).head(layer, head)))

    @app.get(
        "/api/runs/{run}/layers.{layer:int}.heads.{head:int}/value-norms/{seq:int}",
        response_class=Response,
        responses=_FRAME,
        tags=["attention"],
        summary="[len] float32 value-vector norms of one sequence's tokens",
    )
    def value_norms(run: str, layer: int, head: int, seq: int) -> Response:
        return frame(lambda: attention.value_norms_frame(registry.get(run).head(layer, head), seq))

    @app.get(
        "/api/runs/{run}/images/{seq:int}.png",
        response_class=Response,
        responses={
            200: {"content": {"image/png": {}}, "description": "the image as the model saw it"},
            **_ERRORS,
        },
        tags=["attention"],
        summary="An image run's image, as the model saw it",
    )
    def image(run: str, seq: int) -> Response:
        return Response(attention.image_png(registry.get(run), seq), media_type="image/png")

    @app.get(
        "/api/runs/{run}/patches.png",
        response_class=Response,
        responses={
            200: {"content": {"image/png": {}}, "description": "16 x 16 tiles, token t at (t % C, t // C)"},
            **_ERRORS,
        },
        tags=["attention"],
        summary="An image run's patch atlas: every token's patch as a 16 x 16 tile, C = width / 16 columns",
    )
    def patches(run: str) -> Response:
        return Response(attention.patch_atlas_png(registry.get(run)), media_type="image/png")

    @app.get("/api/{rest:path}", include_in_schema=False)
    def unknown(rest: str) -> Response:
        raise RunNotFound(f"no API route /api/{rest}; see /docs for the routes")

    _mount_frontend(app, static_dir)
    return app


def _import_tables() -> None:
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401


def _mount_frontend(app: FastAPI, static_dir: Path | None) -> None:
    if static_dir is not None and (static_dir / "index.html").is_file():
        app.mount("/", StaticFiles(directory=static_dir, html=True), name="frontend")
        return

    @app.get("/", include_in_schema=False, response_class=HTMLResponse)
    def no_frontend() -> str:
        return (
            "<!doctype html><title>attentionviz</title><p>The attentionviz API is running "
            "(see <a href='/docs'>/docs</a>), but this installation has no built frontend. "
            "Reinstall with node available (<code>pip install .</code>) or run "
            "<code>npm ci &amp;&amp; npm run build</code> in <code>frontend/</code>.</p>"
        )


def bind(host: str = "127.0.0.1", port: int = 8000) -> socket.socket:
    """A listening socket on host:port (port 0 picks a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise AttentionVizError(
            f"cannot listen on {host}:{port} ({exc.strerror}); pick another with --port"
        ) from exc
    sock.listen(128)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def serve(app: FastAPI, sock: socket.socket, *, log_level: str = "warning") -> None:
    """Run `app` with uvicorn on an already bound socket until interrupted."""
    import uvicorn

    config = uvicorn.Config(app, log_level=log_level, access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
