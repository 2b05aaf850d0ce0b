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


def answer(widget: Any, content: dict[str, Any]) -> list[dict[str, Any]]:
    """The widget's replies to one message of the frontend, as the kernel would send them back."""
    sent: list[tuple[dict[str, Any], list[bytes]]] = []
    widget.send = lambda message, buffers=None: sent.append((message, list(buffers or [])))
    widget._handle_custom_msg(content, [])
    return [
        {"content": message, "buffers": [base64.b64encode(b).decode() for b in buffers]}
        for message, buffers in sent
    ]


def synced_state(widget: Any) -> dict[str, Any]:
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
    return {name: getattr(widget, name) for name in names}


def serve_bundle(page: Any, html: str) -> None:
    """Serve `html` at HOST with the embedded bundle beside it."""
    files = {
        "": ("text/html", html.encode()),
        "attentionviz.js": ("text/javascript", (STATIC / "embed" / "attentionviz.js").read_bytes()),
        "attentionviz.css": ("text/css", (STATIC / "embed" / "attentionviz.css").read_bytes()),
    }

    def serve(route: Any) -> None:
        content_type, body = files[route.request.url.removeprefix(HOST)]
        route.fulfill(status=200, content_type=content_type, body=body)

    page.route(f"{HOST}**", serve)


def open_widget(browser: Any, widget: Any) -> tuple[Any, Any, list[str]]:
    """A page hosting `widget`'s bundle, its comm bridged to the Python object."""
    context = browser.new_context(viewport={"width": 1280, "height": 760})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))

    page.expose_function("py_send", lambda content: answer(widget, content))
    page.expose_function("py_sync", lambda changes: widget.set_state(changes))
    serve_bundle(page, PAGE.replace("STATE", json.dumps(synced_state(widget))))
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
        page.wait_for_function("document.querySelector('.app').dataset.theme === 'dark'")
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


MULTI_PAGE = """<!doctype html>
<html><head><meta charset="utf-8"><link rel="stylesheet" href="attentionviz.css">
<style>body { background: #ffffff; color: #1f1f1f; font-family: sans-serif; }</style></head>
<body><div id="cells"></div>
<script type="module">
// anywidget's way: every widget model imports its module anew from a blob URL of its _esm
const source = await (await fetch("./attentionviz.js")).text();
const bytes = (b64) => Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
window.__views = {};
window.__apps = {};
window.__synced = {};
window.__show = async (index, state) => {
  const listeners = {};
  let dirty = {};
  window.__synced[index] = 0;
  const emit = (event, ...args) => (listeners[event] || []).forEach((cb) => cb(...args));
  const model = {
    get: (name) => state[name],
    set: (name, value) => { state[name] = value; dirty[name] = value; },
    save_changes: async () => { const changes = dirty; dirty = {}; await window.py_sync(index, changes); window.__synced[index]++; },
    on: (event, cb) => (listeners[event] ??= []).push(cb),
    off: (event, cb) => { listeners[event] = (listeners[event] || []).filter((x) => x !== cb); },
    send: async (content) => {
      for (const reply of await window.py_send(index, content)) {
        emit("msg:custom", reply.content, reply.buffers.map((b) => new DataView(bytes(b).buffer)));
      }
    },
  };
  const url = URL.createObjectURL(new Blob([source], { type: "text/javascript" }));
  const { default: widget } = await import(url);
  URL.revokeObjectURL(url);
  const el = document.createElement("div");
  el.className = "output";
  document.getElementById("cells").append(el);
  const cleanup = widget.render({ model, el });
  window.__apps[index] = window.__attentionviz;  // the automation hook of the App just mounted
  window.__views[index] = { el, cleanup, update(changes) { for (const [k, v] of Object.entries(changes)) { state[k] = v; emit(`change:${k}`); } } };
};
// what a notebook does when a cell re-runs: the old output's view is removed, its element dropped
window.__remove = (index) => { const view = window.__views[index]; view.cleanup(); view.el.remove(); delete window.__views[index]; };
window.__ready = true;
</script></body></html>
"""


def open_widgets(browser: Any, widgets: list[Any]) -> tuple[Any, Any, list[str]]:
    """A page that shows widgets as a notebook does (each its own module), bridged to Python."""
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))

    page.expose_function("py_send", lambda index, content: answer(widgets[index], content))
    page.expose_function("py_sync", lambda index, changes: widgets[index].set_state(changes))
    serve_bundle(page, MULTI_PAGE)
    page.goto(HOST)
    page.wait_for_function("window.__ready === true")
    return context, page, errors


def show(page: Any, widgets: list[Any], index: int) -> dict[str, Any]:
    """Display widgets[index] in a new output and wait for its first picture."""
    page.evaluate("([index, state]) => window.__show(index, state)", [index, synced_state(widgets[index])])
    event: dict[str, Any] = page.evaluate(f"window.__apps[{index}].whenRendered()")
    return event


def test_two_widgets_on_one_page_are_independent_and_a_rerun_cell_replaces_one_cleanly(
    browser: Any, minilm_run: Path
) -> None:
    import attentionviz as av

    widgets = [
        # in 3D, a resize reprojects the labels through deck's viewports: after the deck is
        # finalized, that was "deck.gl: assertion failed" from the ResizeObserver
        av.Widget(minilm_run, layer=1, head=2, projection="pca", dim=3, height=520),
        av.Widget(minilm_run, projection="pca", height=520),
        av.Widget(minilm_run, layer=1, head=2, projection="pca", height=520),  # the re-run cell's
    ]
    context, page, errors = open_widgets(browser, widgets)
    try:
        assert show(page, widgets, 0)["view"] == "single"
        assert show(page, widgets, 1)["view"] == "matrix"
        apps = page.locator(".app")
        assert apps.count() == 2
        # the second widget dark: the first (and the page) stay light
        widgets[1].theme = "dark"
        page.evaluate("window.__apps[1].renders.length = 0")
        page.evaluate("window.__views[1].update({theme: 'dark'})")
        page.wait_for_function("window.__apps[1].renders.length > 0")
        assert apps.evaluate_all("els => els.map(e => e.dataset.theme)") == ["light", "dark"]
        backgrounds = apps.evaluate_all("els => els.map(e => getComputedStyle(e).backgroundColor)")
        assert backgrounds[0] == "rgb(255, 255, 255)" and backgrounds[1] != backgrounds[0]
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(255, 255, 255)"
        # a dark widget in a light page draws its title and brand light on dark
        brand = page.locator(".app[data-theme=dark] .brand").evaluate("el => getComputedStyle(el).color")
        assert sum(int(v) for v in brand[brand.index("(") + 1 : -1].split(",")[:3]) > 550, brand
        # each 2D/3D control is its own radio group: both show their checked dimension
        checked = page.locator(".app").evaluate_all(
            "apps => apps.map(a => [2, 3].map(d => a.querySelector(`[data-testid=dim-${d}]`).checked))"
        )
        assert checked == [[False, True], [True, False]]  # the first widget in 3D, the second in 2D
        page.screenshot(path=str(OUTPUT / "widgets-two-on-a-page.png"))

        # re-run the first widget's cell: its view goes, a new widget takes its place
        page.evaluate("window.__remove(0)")
        assert show(page, widgets, 2)["view"] == "single"
        page.evaluate("window.__apps[2].controller.redraw()")
        page.wait_for_function("window.__apps[2].whenRendered().then(() => true)")
        assert page.locator(".app").count() == 2
        page.screenshot(path=str(OUTPUT / "widgets-after-rerun.png"))
        assert not errors, errors
    finally:
        context.close()
        for widget in widgets:
            widget.close()
