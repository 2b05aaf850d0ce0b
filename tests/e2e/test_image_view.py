"""An image run in Chromium: points drawn as their patch thumbnails (Single and Matrix Views), and
the Image View for a clicked patch: heatmaps of attention paid and received, attention to [CLS],
arrows to each patch's strongest patch and flows above the threshold (the trained digits ViT over
20 digit PNGs)."""

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
    from attentionviz.hosts.snapshot import served

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
    start, length = run.sequence_bounds(sequence)
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


def cell_pixels(image: Any, cell: dict[str, float]) -> np.ndarray:
    box = (
        round(cell["x"]) + 2,
        round(cell["y"]) + 2,
        round(cell["x"] + cell["width"]) - 2,
        round(cell["y"] + cell["height"]) - 2,
    )
    return np.asarray(image.crop(box), dtype=np.int16)  # [h, w, 3]


def test_the_matrix_view_draws_patch_thumbnails_once_cells_are_big_enough(
    browser: Any, image_server: str
) -> None:
    seen = {}
    for name, viewport in (("big", {"width": 1280, "height": 800}), ("small", {"width": 800, "height": 600})):
        context = browser.new_context(viewport=viewport)
        app = App(context.new_page(), image_server)
        try:
            app.open("run=digits&projection=pca&labels=0")
            image = app.screenshot(f"image-run-matrix-{name}")
            cells = app.page.evaluate("window.__attentionviz.cells()")
            assert len(cells) == 16
            seen[name] = (cells, image)
            assert not app.errors
        finally:
            context.close()
    big_cells, big = seen["big"]
    small_cells, small = seen["small"]
    assert min(c["width"] for c in big_cells) > 130 > max(c["width"] for c in small_cells)
    for cell in big_cells:
        pixels = cell_pixels(big, cell)
        dark = (pixels.mean(axis=2) < 70).sum()  # the digits' black paper, lightly tinted
        green = ((pixels[..., 1] - pixels[..., 0] > 25) & (pixels[..., 1] - pixels[..., 2] > 25)).sum()
        pink = (pixels[..., 0] - pixels[..., 1] > 25).sum()
        assert dark > 500, f"cell {cell['layer']},{cell['head']}: patches drawn as thumbnails"
        assert green > 800 and pink > 800, "query thumbnails are tinted green, key thumbnails pink"
    for cell in small_cells:
        assert (cell_pixels(small, cell).mean(axis=2) < 70).sum() < 100, "small cells draw plain points"


def arrow_case(run: Run) -> tuple[int, int, int]:
    """A head and image whose patches point at themselves, at [CLS] and at other patches."""
    patch_row = run.tokens["patch_row"].to_numpy()
    for layer in range(run.info.layers):
        for head in range(run.info.heads):
            for sequence in range(run.info.n_sequences):
                start, length = run.sequence_bounds(sequence)
                best = run.head(layer, head).attention(sequence).argmax(axis=1)
                rows = patch_row[start : start + length]
                kinds = {
                    "self" if best[q] == q else "cls" if rows[best[q]] < 0 else "line"
                    for q in range(length)
                    if rows[q] >= 0
                }
                if kinds == {"self", "cls", "line"}:
                    return layer, head, sequence
    raise AssertionError("no image in this run has all three kinds of arrow")


def test_the_image_view_shows_attention_paid_received_arrows_and_flows(
    image_app: Any, digits_run: Path
) -> None:
    app = image_app
    run = Run(digits_run)
    layer, head, sequence = arrow_case(run)
    start, length = run.sequence_bounds(sequence)
    tokens = run.tokens
    rows = tokens["patch_row"].to_numpy()[start : start + length]
    cols = tokens["patch_col"].to_numpy()[start : start + length]
    attention = run.head(layer, head).attention(sequence)
    app.open(f"run=digits&view=single&layer={layer}&head={head}&projection=pca&labels=0")
    position = int(np.flatnonzero((rows == 1) & (cols == 2))[0])
    xy = app.page.evaluate(f"window.__attentionviz.controller.screenOf({start + position})")
    app.act(lambda: app.page.mouse.click(xy[0], xy[1]))
    app.page.wait_for_function("document.querySelector('[data-testid=image-svg] image').getBBox().width > 0")
    assert app.page.get_by_test_id("image-heatmap").is_checked()
    assert not app.page.get_by_test_id("image-as-key").is_checked(), (
        "a selected patch shows the attention it pays"
    )
    patches = [q for q in range(length) if rows[q] >= 0]

    def svg() -> np.ndarray:
        shot = app.screenshot(f"image-view-{shown}")
        box = app.page.get_by_test_id("image-svg").bounding_box()
        crop = (int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), int(box["y"] + box["height"]))
        return np.asarray(shot.crop(crop), dtype=np.int16)

    def redness(pixels: np.ndarray, q: int) -> float:
        cell = pixels.shape[0] // 4
        tile = pixels[
            rows[q] * cell + 8 : (rows[q] + 1) * cell - 8, cols[q] * cell + 8 : (cols[q] + 1) * cell - 8
        ]
        return float((tile[..., 0] - tile[..., 1:].mean(axis=2)).mean())

    def check_heatmap(values: np.ndarray) -> None:
        pixels = svg()
        order = sorted(patches, key=lambda q: values[q])
        assert redness(pixels, order[-1]) > redness(pixels, order[0]) + 40

    shown = "paid"
    check_heatmap(attention[position])
    shown = "received"
    app.page.get_by_test_id("image-as-key").check()
    check_heatmap(attention[:, position])
    assert f"{attention[position, 0]:.3f}" in app.page.get_by_test_id("attention-to-cls").text_content()

    shown = "arrows"
    app.page.get_by_test_id("image-arrows").check()
    best = attention.argmax(axis=1)
    selfs = sum(best[q] == q for q in patches)
    to_cls = sum(rows[best[q]] < 0 for q in patches)
    app.page.wait_for_function(
        "document.querySelectorAll('[data-testid=image-svg] line, [data-testid=image-svg] circle').length > 0"
    )
    assert app.page.locator("[data-testid=image-svg] circle").count() == selfs
    assert app.page.locator("[data-testid=image-svg] line").count() == len(patches) - selfs - to_cls
    assert app.page.locator("[data-testid=image-svg] rect[fill='#2e93d9']").count() == to_cls
    pixels = svg()
    yellow = ((pixels[..., 0] > 200) & (pixels[..., 1] > 170) & (pixels[..., 2] < 90)).sum()
    blue = (
        (pixels[..., 2] > 180) & (pixels[..., 0] < 90) & (pixels[..., 1] > 110) & (pixels[..., 1] < 180)
    ).sum()
    assert yellow > 30 * (len(patches) - selfs - to_cls), "an arrow to each patch's strongest patch"
    assert blue >= 25 * to_cls, "[CLS] marked"

    shown = "flows"
    app.page.get_by_test_id("image-flows").check()
    among = attention[np.ix_(patches, patches)] * (1 - np.eye(len(patches), dtype=np.float32))
    for threshold in (0.05, 0.15):
        app.page.get_by_test_id("threshold").fill(str(threshold))
        app.page.get_by_test_id("threshold").dispatch_event("change")
        count = app.page.locator("[data-testid=image-svg] line").count()
        assert int((among >= threshold + 1e-5).sum()) <= count <= int((among >= threshold - 1e-5).sum())
    assert int((among >= 0.15).sum()) < int((among >= 0.05).sum())
    pixels = svg()
    assert ((pixels[..., 0] > 200) & (pixels[..., 1] > 170) & (pixels[..., 2] < 90)).sum() > 0
    assert not app.errors
