"""The server lets nothing through: loopback by default, no file outside the runs and the static
folder, no CORS, bounded requests, and no route that writes.

Path-traversal probes go over a raw socket to a real uvicorn on 127.0.0.1, because an HTTP client
would normalise `..` away before the server ever saw it; everything else uses the in-process client.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from attentionviz.hosts.server import bind, create_app
from tests.support.synthetic import make_synthetic_run

SECRET = "TOP-SECRET-4f1c9a"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """runs/run (a synthetic run), static/ (a frontend), and secrets beside and outside both."""
    root = tmp_path_factory.mktemp("site")
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text(SECRET)
    (root / "secret.txt").write_text(SECRET)
    pd.DataFrame({"token": [SECRET]}).to_parquet(outside / "tokens.parquet")
    np.save(outside / "layout.npy", np.full((80, 2), 7.0, np.float32))

    runs = root / "runs"
    make_synthetic_run(runs / "run", layers=1, heads=2, tokens=40, layouts=(("pca", 2),))
    (runs / "secret.txt").write_text(SECRET)
    linked = runs / "linked"  # a second run whose files link out of it
    make_synthetic_run(linked, layers=1, heads=2, tokens=40, layouts=(("pca", 2),))
    (linked / "tokens.parquet").unlink()
    (linked / "tokens.parquet").symlink_to(outside / "tokens.parquet")
    layout = linked / "heads/layers.0.heads.0/pca.2d.npy"
    layout.unlink()
    layout.symlink_to(outside / "layout.npy")
    (linked / "heads/layers.0.heads.1/metrics.json").unlink()
    (linked / "heads/layers.0.heads.1/metrics.json").symlink_to(outside / "secret.txt")

    static = root / "static"
    (static / "assets").mkdir(parents=True)
    (static / "index.html").write_text("<!doctype html><title>attentionviz</title>")
    (static / "assets/app.js").write_text("console.log('app')")
    (static / "leak.txt").symlink_to(outside / "secret.txt")
    (static / "outside").symlink_to(outside, target_is_directory=True)
    return {"root": root, "runs": runs, "static": static}


@pytest.fixture(scope="module")
def app(site: dict[str, Path]) -> Any:
    return create_app([site["runs"]], static_dir=site["static"])


@pytest.fixture(scope="module")
def client(app: Any) -> TestClient:
    return TestClient(app, raise_server_exceptions=False)


@pytest.fixture(scope="module")
def live(live_server: tuple[Any, tuple[str, int]]) -> tuple[str, int]:
    return live_server[1]


@pytest.fixture(scope="module")
def live_server(app: Any) -> Iterator[tuple[Any, tuple[str, int]]]:
    """The app under a real uvicorn on 127.0.0.1 (a free port), stopped after the module."""
    import uvicorn

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    yield server, sock.getsockname()[:2]
    server.should_exit = True
    thread.join(timeout=10)
    sock.close()


def test_accepted_connections_send_without_waiting_for_acks(live_server: tuple[Any, tuple[str, int]]) -> None:
    """TCP_NODELAY on the server's side of each connection: without it, Nagle holds every answer
    on a reused (keep-alive) connection until the client's delayed ACK, ~40 ms later."""
    server, address = live_server
    with socket.create_connection(address, timeout=10) as conn:
        conn.sendall(b"GET /api HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert conn.recv(65536).startswith(b"HTTP/1.1 200")
        accepted = [c.transport.get_extra_info("socket") for c in server.server_state.connections]
        assert accepted, "the server holds the open connection"
        for sock in accepted:
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


def raw_request(address: tuple[str, int], request: bytes, *, timeout: float = 10.0) -> tuple[int, bytes]:
    """Send bytes as they are; return (status, whole response). Status 0: the server hung up."""
    with socket.create_connection(address, timeout=timeout) as conn:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            conn.sendall(request)
        chunks = []
        with contextlib.suppress(ConnectionResetError, TimeoutError):
            while chunk := conn.recv(65536):
                chunks.append(chunk)
    data = b"".join(chunks)
    match = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return (int(match[1]) if match else 0), data


def get(address: tuple[str, int], target: str) -> tuple[int, bytes]:
    return raw_request(
        address, f"GET {target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode()
    )


TRAVERSAL = [
    "/../secret.txt",
    "/../../secret.txt",
    "/..%2fsecret.txt",
    "/%2e%2e/secret.txt",
    "/%2e%2e%2fsecret.txt",
    "/%252e%252e%252fsecret.txt",
    "/assets/../../secret.txt",
    "/assets/%2e%2e/%2e%2e/secret.txt",
    "/assets/..%5c..%5csecret.txt",
    "/..\\..\\secret.txt",
    "/%5c..%5csecret.txt",
    "//etc/passwd",
    "/etc/passwd",
    "/%2fetc%2fpasswd",
    "/leak.txt",
    "/outside/secret.txt",
    "/index.html/../../secret.txt",
    "/api/runs/..%2fsecret.txt",
    "/api/runs/%2e%2e/layers.0.heads.0",
    "/api/runs/run/..%2f..%2fsecret.txt",
    "/api/runs/..%2f..%2foutside/tokens",
    "/api/runs/%2Fetc%2Fpasswd/tokens",
    "/api/runs/run/layers.0.heads.0/..%2f..%2f..%2fsecret.txt",
    "/api/runs/linked/tokens",
    "/api/runs/linked/layers.0.heads.0/pca.2d",
    "/api/runs/linked/layers.0.heads.1",
    "/api/runs/linked/layers.0/pca.2d",  # the per-layer route reads head 0's linked layout too
    "/api/runs/run/layers.0/..%2f..%2fsecret.txt",
    "/static/../secret.txt",
    "/%00/secret.txt",
]


@pytest.mark.parametrize("target", TRAVERSAL)
def test_path_traversal_is_refused(live: tuple[str, int], target: str) -> None:
    status, response = get(live, target)
    assert 400 <= status < 500 or status == 0, response[:300]
    assert SECRET.encode() not in response and b"root:" not in response


def test_the_probes_would_see_the_files_that_are_allowed(live: tuple[str, int]) -> None:
    """Guard against a server that refuses everything: the same socket serves what it should."""
    assert get(live, "/")[0] == 200
    assert get(live, "/assets/app.js")[0] == 200
    assert get(live, "/api/runs/run/tokens")[0] == 200
    assert get(live, "/api/runs/linked/layers.0.heads.1/pca.2d")[0] == 200
    assert get(live, "/api/runs/linked/layers.0/pca.2d?heads=1")[0] == 200


def test_no_cors_by_default(client: TestClient) -> None:
    origin = {"Origin": "https://evil.example"}
    for response in (
        client.get("/api/runs", headers=origin),
        client.options("/api/runs", headers={**origin, "Access-Control-Request-Method": "GET"}),
    ):
        assert not any(h.lower().startswith("access-control-") for h in response.headers), response.headers
    assert client.get("/api/runs", headers=origin).status_code == 200


def concrete_paths(app: Any) -> list[str]:
    """Every route of the app with its parameters filled in."""
    values = {"run": "run", "layer": "0", "head": "0", "method": "pca", "dim": "2", "rest": "x", "path": "x"}
    paths = []
    for route in app.routes:
        path = getattr(route, "path", None)
        if path is None:
            continue
        paths.append(re.sub(r"\{(\w+)(:\w+)?\}", lambda m: values.get(m[1], "0"), path) or "/")
    return sorted(set(paths) | {"/", "/assets/app.js", "/index.html"})


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_no_route_writes(client: TestClient, app: Any, method: str) -> None:
    paths = concrete_paths(app)
    assert any("layers.0.heads.0" in p for p in paths) and len(paths) > 10
    for path in paths:
        response = client.request(method, path, content=b"{}")
        assert response.status_code == 405, (method, path, response.status_code)


def test_every_api_route_is_get_only(app: Any) -> None:
    methods = {m for route in app.routes if isinstance(route, APIRoute) for m in route.methods}
    assert methods <= {"GET", "HEAD"}


def test_oversized_requests_are_refused(live: tuple[str, int]) -> None:
    huge_header = b"GET /api HTTP/1.1\r\nHost: x\r\nX-Fill: " + b"a" * (1 << 20) + b"\r\n\r\n"
    status, _ = raw_request(live, huge_header)
    assert status in (0, 400, 413, 431)
    long_url = b"GET /api/" + b"a" * (1 << 20) + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    status, _ = raw_request(live, long_url)
    assert status in (0, 400, 404, 413, 414, 431)
    # a body announced as 1 GB is answered (405) at once, without the server waiting to read it
    big_body = (
        b"POST /api/runs HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000\r\nConnection: close\r\n\r\n"
        + b"x" * 1024
    )
    status, _ = raw_request(live, big_body, timeout=10)
    assert status == 405
    assert get(live, "/api")[0] == 200, "the server still answers after the oversized requests"


def serve_subprocess(run: Path, *extra: str) -> tuple[str, str]:
    """Start `attentionviz serve --port 0`, read what it prints until it is listening, stop it."""
    process = subprocess.Popen(
        [sys.executable, "-m", "attentionviz", "serve", str(run), "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    lines = []
    try:
        assert process.stdout is not None
        for line in process.stdout:
            lines.append(line)
            if "Ctrl+C" in line:
                break
    finally:
        process.kill()
        process.wait(timeout=30)
    output = "".join(lines)
    match = re.search(r"at http://(\S+):(\d+)/", output)
    assert match, output
    return match[1], output


def test_binds_loopback_unless_told_otherwise(site: dict[str, Path]) -> None:
    host, output = serve_subprocess(site["runs"] / "run")
    assert host == "127.0.0.1" and "warning" not in output
    host, output = serve_subprocess(site["runs"] / "run", "--host", "0.0.0.0")
    assert host == "0.0.0.0" and "warning: listening on 0.0.0.0" in output


def test_loopback_names_are_not_warned_about() -> None:
    from attentionviz.hosts.serve import is_loopback

    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "192.168.1.4", "example.com"))
