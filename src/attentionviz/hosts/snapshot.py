"""`attentionviz snapshot`: a PNG of one view of a run, drawn by the web app in headless Chromium.

The run is served on a free loopback port inside this process, the app opens the view from its URL
state, and the picture is taken after the app's render event (never after a sleep). The PNG is the
drawing area alone (the canvas of a `width x height` CSS-pixel window), at `scale` pixels per CSS pixel
(2 or 3 for print).
"""

from __future__ import annotations

import logging
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from attentionviz.errors import AttentionVizError

log = logging.getLogger(__name__)

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--enable-unsafe-swiftshader",
]


def snapshot(
    run_dir: str | Path,
    out: str | Path,
    *,
    layer: int | None = None,
    head: int | None = None,
    projection: str | None = None,
    dim: int = 2,
    color: str = "query_key",
    theme: str = "light",
    labels: bool = False,
    width: int = 1000,
    height: int = 800,
    scale: float = 2.0,
) -> Path:
    """Write a PNG of one head (`layer` and `head`) or of the Matrix View (neither) to `out`.

    `projection`: a layout method of the registry (None: the app's first).
    """
    from attentionviz.embed.reducers import REDUCERS
    from attentionviz.readmodel.registry import RunRegistry
    from attentionviz.store.reader import Run

    if (layer is None) != (head is None):
        raise AttentionVizError("give both --layer and --head for one head, or neither for the Matrix View")
    if width < 16 or height < 16 or not 0.5 <= scale <= 8:
        raise AttentionVizError("the picture must be at least 16x16 pixels, at a scale between 0.5 and 8")
    if projection is not None and projection not in REDUCERS:
        raise AttentionVizError(f"unknown layout method {projection!r}; choose from {', '.join(REDUCERS)}")
    run = Run(run_dir)
    if layer is not None and head is not None:
        run.head(layer, head)  # a one-line error when out of range
    registry = RunRegistry([run.path])
    state: dict[str, Any] = {"run": registry.ids()[0], "dim": dim, "color": color}
    if projection is not None:
        state["projection"] = projection
    state.update({"theme": theme, "labels": int(labels)})
    if layer is not None:
        state.update({"view": "single", "layer": layer, "head": head})
    target = Path(out).expanduser()
    with served(registry) as base, _chromium() as browser:
        context = browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=scale)
        try:
            page = context.new_page()
            page.goto(f"{base}?{urlencode(state)}")
            event = page.evaluate("window.__attentionviz.whenRendered()")
            error = page.evaluate("window.__attentionviz.error")
            if error:
                raise AttentionVizError(f"the app could not draw this view: {error}")
            log.info("rendered %s", event)
            target.parent.mkdir(parents=True, exist_ok=True)
            page.locator("[data-testid=canvas]").screenshot(path=str(target))
        finally:
            context.close()
    return target


@contextmanager
def served(registry: Any) -> Iterator[str]:
    """Serve `registry` (run folders) on a free loopback port in a thread; yields the base URL."""
    import uvicorn

    from attentionviz.hosts.server import STATIC_DIR, bind, create_app, url_of

    if not (STATIC_DIR / "index.html").exists():
        raise AttentionVizError(
            "the web app is not built into this install; reinstall attentionviz, or run "
            "`npm ci && npm run build` in frontend/"
        )
    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(create_app(registry), log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise AttentionVizError("the in-process server did not start")
            thread.join(0.05)
        yield url_of(sock)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@contextmanager
def _chromium() -> Iterator[Any]:
    """Headless Chromium: $ATTENTIONVIZ_CHROMIUM, the system's, or Playwright's own download."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise AttentionVizError(
            'snapshots need Playwright: `pip install "attentionviz[snapshot]"` (and a Chromium: apt-get install chromium, '
            "or `playwright install chromium`)"
        ) from None
    executable = (
        os.environ.get("ATTENTIONVIZ_CHROMIUM")
        or shutil.which("chromium")
        or shutil.which("chromium-browser")
    )
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        except Exception as exc:  # Playwright's own error names the missing browser at length
            raise AttentionVizError(
                f"cannot start Chromium ({str(exc).splitlines()[0]}); install it (apt-get install chromium, "
                "or `playwright install chromium`) or set ATTENTIONVIZ_CHROMIUM to its path"
            ) from None
        try:
            yield browser
        finally:
            browser.close()
