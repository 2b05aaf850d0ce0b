"""The notebook widget's bundle in Chromium, inside a minimal host page that speaks the anywidget
protocol: a shim model (get/set/on/off/send/save_changes) bridged to the Python `Widget` through
Playwright's expose_function, in place of a Jupyter kernel's comm."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from attentionviz.store.reader import Run
from tests.e2e.conftest import OUTPUT, STATIC
from tests.e2e.embedded import image_run_shown
from tests.e2e.test_export import ink

pytestmark = pytest.mark.browser

HOST = "http://widget.test/"
PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="stylesheet" href="attentionviz.css"></head>
<body><div id="cell" tabindex="0">a notebook cell</div><div id="root"></div>
<script type="module">
const state = STATE;
const listeners = {};
let dirty = {};
window.__synced = 0;
const emit = (event, ...args) => (listeners[event] || []).forEach((cb) => cb(...args));
const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
const model = {
  get: (name) => state[name],
  set: (name, value) => { state[name] = value; dirty[name] = value; },
  save_changes: async () => {
    const changes = dirty;
    dirty = {};
    await window.py_sync(changes);
    window.__synced++;
  },
  on: (event, cb) => (listeners[event] ??= []).push(cb),
  off: (event, cb) => { listeners[event] = (listeners[event] || []).filter((x) => x !== cb); },
  send: async (content) => {
    for (const reply of await window.py_send(content)) {
      emit("msg:custom", reply.content, reply.buffers.map((b) => new DataView(bytes(b).buffer)));
    }
  },
};
// what the kernel does when Python sets a trait
window.__shim = { update(changes) { for (const [k, v] of Object.entries(changes)) { state[k] = v; emit(`change:${k}`); } } };
const { default: widget } = await import("./attentionviz.js");
widget.render({ model, el: document.getElementById("root") });
</script></body></html>
"""


def open_widget(browser: Any, widget: Any) -> tuple[Any, Any, list[str]]:
    """A page hosting `widget`'s bundle, its comm bridged to the Python object."""
    context = browser.new_context(viewport={"width": 1280, "height": 760})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    def py_send(content: dict[str, Any]) -> list[dict[str, Any]]:
        sent: list[tuple[dict[str, Any], list[bytes]]] = []
        widget.send = lambda message, buffers=None: sent.append((message, list(buffers or [])))
        widget._handle_custom_msg(content, [])
        return [
            {"content": message, "buffers": [base64.b64encode(b).decode() for b in buffers]}
            for message, buffers in sent
        ]

    page.expose_function("py_send", py_send)
    page.expose_function("py_sync", lambda changes: widget.set_state(changes))
    names = (
        "run_id",
        "compare",
        "scrub",
        "view",
        "layer",
        "head",
        "projection",
        "dim",
        "color",
        "theme",
        "height",
        "_selection",
    )
    html = PAGE.replace("STATE", json.dumps({name: getattr(widget, name) for name in names}))
    files = {
        "": ("text/html", html.encode()),
        "attentionviz.js": ("text/javascript", (STATIC / "embed" / "attentionviz.js").read_bytes()),
        "attentionviz.css": ("text/css", (STATIC / "embed" / "attentionviz.css").read_bytes()),
    }

    def serve(route: Any) -> None:
        content_type, body = files[route.request.url.removeprefix(HOST)]
        route.fulfill(status=200, content_type=content_type, body=body)

    page.route(f"{HOST}**", serve)
    page.goto(HOST)
    page.wait_for_function("window.__attentionviz !== undefined")
    return context, page, errors


def test_widget_renders_a_run_syncs_traits_and_returns_the_selection(browser: Any, minilm_run: Path) -> None:
    import attentionviz as av

    run = Run(minilm_run)
    widget = av.Widget(minilm_run, layer=1, head=2, projection="pca")
    assert widget.view == "single"
    context, page, errors = open_widget(browser, widget)
    try:
        assert page.evaluate("window.__attentionviz.whenRendered()")["view"] == "single"
        assert page.evaluate("window.__attentionviz.error") == ""
        assert page.get_by_test_id("head-title").text_content() == "Layer 1 Head 2"
        OUTPUT.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUTPUT / "widget-single.png"))
        from PIL import Image

        image = Image.open(OUTPUT / "widget-single.png").convert("RGB")
        box = page.locator("[data-testid=canvas]").bounding_box()
        assert ink(image, (box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"])) > 500

        # a click in the page selects a token; it reaches widget.selection
        start, _ = run.sequence_bounds(1)
        row = run.info.n_tokens + start + 2  # the key copy of sequence 1's third token
        xy = page.evaluate(f"window.__attentionviz.controller.screenOf({row})")
        synced = page.evaluate("window.__synced")
        page.evaluate("window.__attentionviz.renders.length = 0")
        page.mouse.click(xy[0], xy[1])
        page.wait_for_function("window.__attentionviz.renders.length > 0")
        page.wait_for_function(f"window.__synced > {synced}")
        selected = widget.selection
        assert list(selected.columns) == ["sequence", "position", "token", "kind", "layer", "head"]
        assert selected.to_dict("records") == [
            {
                "sequence": 1,
                "position": 2,
                "token": str(run.tokens["token"].iloc[start + 2]),
                "kind": "key",
                "layer": 1,
                "head": 2,
            }
        ]

        # Python sets a trait (the kernel forwards it): the view follows
        widget.head, widget.theme = 3, "dark"
        page.evaluate("window.__attentionviz.renders.length = 0")
        page.evaluate(
            "changes => window.__shim.update(changes)", {"head": widget.head, "theme": widget.theme}
        )
        page.wait_for_function("window.__attentionviz.renders.length > 0")
        assert page.get_by_test_id("head-title").text_content() == "Layer 1 Head 3"
        page.wait_for_function("document.documentElement.dataset.theme === 'dark'")
        widget.height = 520
        page.evaluate("changes => window.__shim.update(changes)", {"height": widget.height})
        page.wait_for_function("document.querySelector('.avz-embed').getBoundingClientRect().height === 520")

        # arrow keys step through heads only inside the widget (a notebook moves between cells on them)
        page.evaluate("window.__keys = 0; document.addEventListener('keydown', () => window.__keys++)")
        page.locator("#cell").focus()
        page.keyboard.press("ArrowRight")
        page.evaluate("window.__attentionviz.renders.length = 0")
        page.locator(".avz-embed").focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function(
            "window.__attentionviz.renders.length > 0 && window.__attentionviz.state === 'rendered'"
        )
        assert page.evaluate("window.__keys") == 2  # the page saw both
        assert page.evaluate("window.__attentionviz.controller.urlState().head") == 4
        assert page.get_by_test_id("head-title").text_content() == "Layer 1 Head 4"

        # navigating in the page updates the traits
        synced = page.evaluate("window.__synced")
        page.get_by_test_id("view-all").click()
        page.wait_for_function(f"window.__synced > {synced}")
        assert widget.view == "matrix"
        assert not errors
    finally:
        context.close()
        widget.close()


def test_widget_shows_an_image_runs_thumbnails_and_images(browser: Any, digits_run: Path) -> None:
    import attentionviz as av

    widget = av.Widget(digits_run, layer=1, head=2, projection="pca")
    context, page, errors = open_widget(browser, widget)
    try:
        assert image_run_shown(page, Run(digits_run), "widget-image-run").startswith("blob:")
        assert not errors
    finally:
        context.close()
        widget.close()
