"""The FastAPI app over one or more run folders: read-only JSON for records, binary frames for arrays.

    create_app(["runs/minilm"])  ->  FastAPI        serve(app, bind("127.0.0.1", 8000))

Every `/api` route comes from the read model's route table (`readmodel.routes`): its path, typed
parameters, response and payload. Arrays travel as AVZ1 frames (`readmodel.frames`). The built
frontend (`hosts/static/`) is served at `/`.
"""

from __future__ import annotations

import inspect
import logging
import socket
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi import Path as PathParam
from fastapi import Query as QueryParam
from fastapi.middleware.gzip import GZipMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.convertors import Convertor, register_url_convertor

from attentionviz import __version__
from attentionviz.errors import AttentionVizError, RunNotFound
from attentionviz.layouts import Layout
from attentionviz.readmodel import routes
from attentionviz.readmodel.frames import MEDIA_TYPE
from attentionviz.readmodel.models import Problem
from attentionviz.readmodel.registry import RunRegistry
from attentionviz.readmodel.routes import FrameOf, Json, Param, Png, Route
from attentionviz.readmodel.scope import Scope

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"

_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "no such run, head, layout or array"},
    400: {"model": Problem, "description": "the run cannot answer this (damaged or unsupported)"},
}


class _IntSegment(Convertor[int]):
    regex = routes.INT_SEGMENT

    def convert(self, value: str) -> int:
        return int(value)

    def to_string(self, value: int) -> str:
        return str(value)


class _LayoutSegment(Convertor[str]):
    regex = routes.LAYOUT_SEGMENT

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("avz_int", _IntSegment())
register_url_convertor("avz_layout", _LayoutSegment())
_CONVERTORS = {"int": ":avz_int", "layout": ":avz_layout", "str": ""}


def create_app(runs: Sequence[str | Path] | RunRegistry, *, static_dir: Path | None = STATIC_DIR) -> FastAPI:
    """A read-only app over `runs` (run folders or folders of runs)."""
    registry = runs if isinstance(runs, RunRegistry) else RunRegistry(runs)
    scope = Scope(registry)
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

    for route in routes.ROUTES:
        _register(app, route, scope)

    @app.get("/api/{rest:path}", include_in_schema=False)
    def unknown(rest: str) -> Response:
        shown = rest if len(rest) <= 80 else rest[:80] + "..."
        raise RunNotFound(f"no API route /api/{shown}; see /docs for the routes")

    _mount_frontend(app, static_dir)
    return app


def _register(app: FastAPI, route: Route, scope: Scope) -> None:
    """Add `route` to `app`: its path with typed segments, its parameters in the OpenAPI schema."""
    path = "/api" + route.path
    for param in route.path_params:
        path = path.replace(f"{{{param.name}}}", f"{{{param.name}{_CONVERTORS[param.kind]}}}")
    query = {param.name: param for param in route.query}

    def endpoint(**values: Any) -> Any:
        params = {
            name: _typed(query.get(name) or routes.PATH_PARAMS[name], value) for name, value in values.items()
        }
        payload = routes.call(route, scope, params)
        return _response(route, payload)

    parameters = [_path_parameter(p) for p in route.path_params] + [_query_parameter(p) for p in route.query]
    endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    endpoint.__name__ = route.name
    response = route.response
    if isinstance(response, Json):
        app.get(
            path, response_model=response.type, responses=_ERRORS, tags=[route.tag], summary=route.summary
        )(endpoint)
        return
    content_type = MEDIA_TYPE if isinstance(response, FrameOf) else "image/png"
    description = (
        f"an AVZ1 frame ({response.meta.__name__} metadata; buffers "
        f"{', '.join(b.name for b in response.buffers)}): see attentionviz.readmodel.frames"
        if isinstance(response, FrameOf)
        else response.description
    )
    binary: dict[int | str, dict[str, Any]] = {
        200: {
            "content": {content_type: {"schema": {"type": "string", "format": "binary"}}},
            "description": description,
        }
    }
    app.get(
        path,
        response_class=Response,
        responses={**binary, **_ERRORS},
        tags=[route.tag],
        summary=route.summary,
    )(endpoint)


def _path_parameter(param: Param) -> inspect.Parameter:
    kind = int if param.kind == "int" else str
    annotation = Annotated[kind, PathParam(description=param.description)]  # type: ignore[valid-type]
    return inspect.Parameter(param.name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation)


def _query_parameter(param: Param) -> inspect.Parameter:
    kind: Any = int if param.kind == "int" else str
    if not param.required and param.default is None:
        kind = kind | None
    query = QueryParam(
        description=param.description, pattern=param.pattern, ge=param.minimum, max_length=param.max_length
    )
    return inspect.Parameter(
        param.name, inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[kind, query], default=param.default
    )


def _typed(param: Param, value: Any) -> Any:
    """A parameter as the handlers take it: layouts as `Layout`, comma lists as lists of ints."""
    if value is None:
        return None
    if param.kind == "layout":
        try:
            return Layout.parse(value)
        except AttentionVizError as exc:
            raise RunNotFound(str(exc)) from None
    if param.kind == "ints":
        return [int(v) for v in str(value).split(",")]
    return value


def _response(route: Route, payload: Any) -> Any:
    if isinstance(route.response, Json):
        return payload
    if isinstance(route.response, Png):
        return Response(payload, media_type="image/png")
    return Response(payload, media_type=MEDIA_TYPE, headers={"Cache-Control": "no-cache"})


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
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say they are TCP, and
    # without it Nagle holds each answer on a reused connection for the client's delayed ACK (~40 ms)
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
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
