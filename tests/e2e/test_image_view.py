"""An image run in Chromium: points drawn as their patch thumbnails, and the Image View's heatmap
for a clicked patch (the trained digits ViT over 20 digit PNGs)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attentionviz.store.reader import Run
from tests.e2e.conftest import App

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def image_server(digits_run: Path) -> Iterator[str]:
    from attentionviz.snapshot import served

    with served([digits_run]) as url:
        yield url


@pytest.fixture
def image_app(browser: Any, image_server: str) -> Iterator[App]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    yield App(context.new_page(), image_server)
    context.close()


def test_patches_are_drawn_as_thumbnails_and_the_image_view_shows_a_heatmap(
    image_app: Any, digits_run: Path
) -> None:
    app = image_app
    run = Run(digits_run)
    app.open("run=digits&view=single&layer=1&head=2&projection=pca&labels=0")
    image = app.screenshot("image-run-thumbnails")
    x0, y0, x1, y1 = app.canvas_box()
    pixels = np.asarray(image.crop((x0, y0, x1, y1)), dtype=np.int16)
    # digit patches are grey levels between black ink and white paper: many dark, near-neutral pixels
    neutral = np.abs(pixels - pixels.mean(axis=2, keepdims=True)).max(axis=2) < 12
    dark = pixels.mean(axis=2) < 90
    assert (neutral & dark).sum() > 1500, "the points are patch thumbnails, not coloured dots"

    tokens = run.tokens
    sequence = 4
    start, length, _ = run.sequence_bounds(sequence)
    t = int(
        np.flatnonzero(
            (tokens["sequence"] == sequence) & (tokens["patch_row"] == 2) & (tokens["patch_col"] == 1)
        )[0]
    )
    xy = app.page.evaluate(f"window.__attentionviz.controller.screenOf({t})")
    app.act(lambda: app.page.mouse.click(xy[0], xy[1]))
    assert app.page.get_by_test_id("image-view").is_visible()
    app.page.wait_for_function("document.querySelector('[data-testid=image-svg] image').getBBox().width > 0")
    shot = app.screenshot("image-view-heatmap")
    box = app.page.get_by_test_id("image-svg").bounding_box()
    svg = np.asarray(
        shot.crop(
            (int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), int(box["y"] + box["height"]))
        ),
        dtype=np.int16,
    )
    cell = svg.shape[0] // 4
    attention = run.head(1, 2).attention(sequence)
    position = t - start
    patches = [q for q in range(length) if tokens["patch_row"].iloc[start + q] >= 0]
    values = {q: attention[position, q] for q in patches}
    strongest, weakest = max(values, key=values.get), min(values, key=values.get)  # type: ignore[arg-type]

    def redness(q: int) -> float:
        r, c = int(tokens["patch_row"].iloc[start + q]), int(tokens["patch_col"].iloc[start + q])
        tile = svg[r * cell + 8 : (r + 1) * cell - 8, c * cell + 8 : (c + 1) * cell - 8]
        return float((tile[..., 0] - tile[..., 1:].mean(axis=2)).mean())

    assert redness(strongest) > redness(weakest) + 40, "the heatmap is reddest where the patch attends most"
    cls = app.page.get_by_test_id("attention-to-cls").text_content()
    assert f"{attention[position, 0]:.3f}" in cls
    app.page.get_by_test_id("image-arrows").click()
    app.page.wait_for_function(
        "document.querySelectorAll('[data-testid=image-svg] line, [data-testid=image-svg] circle').length > 0"
    )
    app.screenshot("image-view-arrows")
    assert not app.errors


def test_image_runs_colour_by_patch_row_and_column(image_app: Any) -> None:
    app = image_app
    app.open("run=digits&projection=pca&color=patch_row")
    options = app.page.get_by_test_id("color").locator("option").all_text_contents()
    assert "patch row" in options and "patch column" in options
    assert "top" in app.page.get_by_test_id("legend").text_content()
    rows = app.screenshot("image-run-matrix-patch-row")
    app.act(lambda: app.page.get_by_test_id("color").select_option("patch_col"))
    assert "left" in app.page.get_by_test_id("legend").text_content()
    cols = app.screenshot("image-run-matrix-patch-col")
    x0, y0, x1, y1 = app.canvas_box()
    difference = np.abs(
        np.asarray(rows.crop((x0, y0, x1, y1)), dtype=np.int16)
        - np.asarray(cols.crop((x0, y0, x1, y1)), dtype=np.int16)
    ).max(axis=2)
    assert (difference > 30).sum() > 500, "rows and columns colour the points differently"
    assert not app.errors


def test_the_image_grid_shows_the_corpus_and_opens_an_image(image_app: Any, digits_run: Path) -> None:
    app = image_app
    app.open("run=digits&view=single&layer=0&head=1&projection=pca&labels=0")
    cells = app.page.get_by_test_id("image-grid-cell")
    assert cells.count() == Run(digits_run).info.n_sequences
    app.page.wait_for_function(
        "[...document.querySelectorAll('[data-testid=image-grid-cell] img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    app.screenshot("image-grid")
    app.act(lambda: cells.nth(5).click())
    assert "Sequence 5" in app.page.get_by_test_id("sentence-view").text_content()
    assert app.page.get_by_test_id("image-view").is_visible()
    assert not app.errors
