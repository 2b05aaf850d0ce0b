"""`attentionviz serve`: build the app, bind the socket, say where, serve until interrupted."""

from __future__ import annotations

import ipaddress
import logging
import threading
import webbrowser
from collections.abc import Callable, Sequence

from attentionviz.hosts.server import bind, create_app, serve, url_of
from attentionviz.readmodel.registry import RunRegistry

log = logging.getLogger(__name__)


def is_loopback(host: str) -> bool:
    """Whether `host` (a name or an address) only reaches this machine."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return host.lower() == "localhost"


def serve_runs(
    runs: Sequence[str], *, host: str, port: int, open_browser: bool, say: Callable[[str], None]
) -> None:
    """Serve the app over `runs` until interrupted, saying where (and warning off loopback)."""
    registry = RunRegistry(runs)
    app = create_app(registry)
    sock = bind(host, port)
    url = url_of(sock)
    ids = registry.ids()
    say(f"attentionviz: serving {len(ids)} run{'s' if len(ids) != 1 else ''} ({', '.join(ids)}) at {url}")
    if not is_loopback(host):
        say(
            f"warning: listening on {host}, reachable from other machines; the runs are served "
            "without authentication (use the default --host 127.0.0.1 to keep them local)"
        )
    say("press Ctrl+C to stop")
    if open_browser:
        threading.Timer(0.5, webbrowser.open, args=(url,)).start()
    try:
        serve(app, sock)
    finally:
        sock.close()
