"""`attentionviz export`: the static site, served by `python -m http.server`'s handler, in Chromium."""

from __future__ import annotations

import functools
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from attentionviz.cli import main
from attentionviz.store.reader import Run
from tests.e2e.conftest import OUTPUT

pytestmark = pytest.mark.browser


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(minilm_run: Path, tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[str]:
    """The MiniLM run exported whole, served from a plain static file server on a free port."""
    out = tmp_path_factory.mktemp("site") / "minilm"
    result = CliRunner().invoke(main, ["export", str(minilm_run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    handler = functools.partial(QuietHandler, directory=str(out))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def ink(image: Any, box: tuple[float, float, float, float]) -> int:
    x0, y0, x1, y1 = (round(v) for v in box)
    pixels = np.asarray(image.crop((x0 + 2, y0 + 2, x1 - 2, y1 - 2)), dtype=np.int16)  # [h, w, 3]
    background = np.median(pixels.reshape(-1, 3), axis=0)
    return int((np.abs(pixels - background).max(axis=2) > 40).sum())


def test_exported_site_shows_the_matrix_and_single_views(browser: Any, site: str, minilm_run: Path) -> None:
    from PIL import Image

    run = Run(minilm_run)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    OUTPUT.mkdir(parents=True, exist_ok=True)
    try:
        page.goto(f"{site}?run=minilm")
        event = page.evaluate("window.__attentionviz.whenRendered()")
        assert event["view"] == "matrix"
        cells = page.evaluate("window.__attentionviz.cells()")
        assert len(cells) == run.info.layers * run.info.heads
        page.screenshot(path=str(OUTPUT / "export-matrix.png"))
        image = Image.open(OUTPUT / "export-matrix.png").convert("RGB")
        empty = [
            c for c in cells if ink(image, (c["x"], c["y"], c["x"] + c["width"], c["y"] + c["height"])) < 15
        ]
        assert not empty

        page.goto(f"{site}?run=minilm&view=single&layer=1&head=2&projection=tsne")
        event = page.evaluate("window.__attentionviz.whenRendered()")
        assert event["view"] == "single"
        assert page.get_by_test_id("head-title").text_content() == "Layer 1 Head 2"
        page.screenshot(path=str(OUTPUT / "export-single.png"))
        image = Image.open(OUTPUT / "export-single.png").convert("RGB")
        box = page.locator("[data-testid=canvas]").bounding_box()
        assert ink(image, (box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"])) > 500
        assert not errors
    finally:
        context.close()


def test_export_subset_keeps_only_the_chosen_heads_and_layouts(minilm_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "subset"
    args = ["export", str(minilm_run), "-o", str(out), "--layers", "1", "--heads", "0-1", "--layouts", "pca"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    base = out / "api" / "runs" / "minilm"
    details = json.loads((base / "index.html").read_text())
    heads = Run(minilm_run).info.heads
    assert set(details["layouts"]) == {"pca.2d", "pca.3d"}
    assert all(rows == [heads, heads + 1] for rows in details["layouts"].values())
    exported = sorted(p.name for p in base.glob("layers.*"))
    assert exported == ["layers.1", "layers.1.heads.0", "layers.1.heads.1"]  # layers.1: the Matrix View's
    assert sorted(p.name for p in (base / "layers.1").iterdir()) == ["norms", "pca.2d"]
    assert not list(base.rglob("tsne.*"))
    again = CliRunner().invoke(main, args)  # a non-empty folder is not overwritten silently
    assert again.exit_code != 0 and "--overwrite" in again.output
