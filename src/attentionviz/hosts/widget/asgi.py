"""Answer the app's GET requests in-process from the server's own FastAPI app (no socket, no httpx).

The notebook widget forwards each request of the frontend over the widget comm; this client runs
it through `attentionviz.hosts.server.create_app` on a private event loop thread, so the widget's
answers are byte for byte what `attentionviz serve` sends (one encoding, one set of routes).
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from attentionviz.errors import AttentionVizError

#: seconds one request may take before the widget gives up on it
TIMEOUT = 300.0


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


class InProcessClient:
    """GET requests against an ASGI app, from any thread (including a running Jupyter loop's)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def get(self, path: str) -> Answer:
        """Answer `path` ("/api/runs/...?order=lod"): status, content type and body."""
        if not path.startswith("/api/"):
            raise AttentionVizError(f"the widget answers only /api/ requests, not {path!r}")
        future = asyncio.run_coroutine_threadsafe(self._get(path), self._running_loop())
        return future.result(timeout=TIMEOUT)

    def close(self) -> None:
        with self._lock:
            loop, self._loop = self._loop, None
        if loop is not None:
            loop.call_soon_threadsafe(loop.stop)

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="attentionviz-widget", daemon=True).start()
                self._loop = loop
            return self._loop

    async def _get(self, path: str) -> Answer:
        raw_path, _, query = path.partition("?")
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": unquote(raw_path),
            "raw_path": raw_path.encode(),
            "query_string": query.encode(),
            "root_path": "",
            "headers": [(b"host", b"attentionviz-widget")],
            "client": ("127.0.0.1", 0),
            "server": ("attentionviz-widget", 80),
        }
        status = 500
        content_type = "application/octet-stream"
        body: list[bytes] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            nonlocal status, content_type
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for name, value in message.get("headers", []):
                    if name.lower() == b"content-type":
                        content_type = value.decode("latin-1")
            elif message["type"] == "http.response.body":
                body.append(message.get("body", b""))

        await self.app(scope, receive, send)
        return Answer(status, content_type, b"".join(body))
