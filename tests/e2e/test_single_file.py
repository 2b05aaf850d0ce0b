"""`attentionviz export --single-file`: one HTML file, opened from file:// in Chromium (no server)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from attentionviz.cli import main
from attentionviz.hosts.export.single_file import export_single_file
from attentionviz.store.reader import Run
from tests.e2e.conftest import OUTPUT
from tests.e2e.embedded import image_run_shown
from tests.e2e.test_export import ink

pytestmark = pytest.mark.browser

LAYERS = 2


@pytest.fixture(scope="module")
def html_file(minilm_run: Path, tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Path:
    out = tmp_path_factory.mktemp("single") / "minilm.html"
    result = CliRunner().invoke(
        main, ["export", str(minilm_run), "-o", str(out), "--single-file", "--layers", f"0-{LAYERS - 1}"]
    )
    assert result.exit_code == 0, result.output
    assert "open it in a browser" in result.output
    return out


def test_single_file_shows_the_matrix_single_and_sentence_views_from_disk(
    browser: Any, html_file: Path, minilm_run: Path
) -> None:
    from PIL import Image

    run = Run(minilm_run)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    OUTPUT.mkdir(parents=True, exist_ok=True)
    try:
        page.goto(html_file.as_uri())
        page.wait_for_function("window.__attentionviz !== undefined")  # the bundle loads after the page
        event = page.evaluate("window.__attentionviz.whenRendered()")
        assert event["view"] == "matrix"
        assert page.evaluate("window.__attentionviz.error") == ""
        cells = page.evaluate("window.__attentionviz.cells()")
        assert len(cells) == run.info.layers * run.info.heads
        page.screenshot(path=str(OUTPUT / "single-file-matrix.png"))
        image = Image.open(OUTPUT / "single-file-matrix.png").convert("RGB")
        exported = [c for c in cells if c["layer"] < LAYERS]
        empty = [
            c
            for c in exported
            if ink(image, (c["x"], c["y"], c["x"] + c["width"], c["y"] + c["height"])) < 15
        ]
        assert len(exported) == LAYERS * run.info.heads and not empty

        page.goto(f"{html_file.as_uri()}?run=minilm&view=single&layer=1&head=2&projection=pca&labels=0")
        page.wait_for_function("window.__attentionviz !== undefined")
        assert page.evaluate("window.__attentionviz.whenRendered()")["view"] == "single"
        assert page.get_by_test_id("head-title").text_content() == "Layer 1 Head 2"

        start, length = run.sequence_bounds(1)
        xy = page.evaluate(f"window.__attentionviz.controller.screenOf({start + 1})")
        page.evaluate("window.__attentionviz.renders.length = 0")
        page.mouse.click(xy[0], xy[1])
        page.wait_for_function("window.__attentionviz.renders.length > 0")
        shown = page.get_by_test_id("sentence-graph").locator("[data-testid=query-token]").all_text_contents()
        assert shown == run.tokens["token"].astype(str).tolist()[start : start + length]
        assert page.get_by_test_id("sentence-graph").locator("line").count() > 0
        page.screenshot(path=str(OUTPUT / "single-file-sentence.png"))
        assert not errors
    finally:
        context.close()


def test_single_file_of_an_image_run_shows_thumbnails_and_images(
    browser: Any, digits_run: Path, tmp_path: Path
) -> None:
    out = tmp_path / "digits.html"
    export_single_file(digits_run, out, layers=[1], layouts=["pca"])
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{out.as_uri()}?run=digits&view=single&layer=1&head=2&projection=pca&labels=0")
        page.wait_for_function("window.__attentionviz !== undefined")
        href = image_run_shown(page, Run(digits_run), "single-file-image-run")
        assert href.startswith("data:image/png;base64,")
        assert not errors
    finally:
        context.close()
