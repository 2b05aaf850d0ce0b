"""An image run in Chromium: points drawn as their patch thumbnails (Single and Matrix Views), and
the Image View for a clicked patch: heatmaps of attention paid and received, attention to [CLS],
arrows to each patch's strongest patch and flows above the threshold (the trained digits ViT over
20 digit PNGs).

The digits ViT is trained in the test session, so its weights (and attention) differ from machine
to machine and with `--digits-seed`: every check below reads what this model's own attention is
(which patch it attends to most, which flows pass a threshold chosen from its own weights) instead
of values one training run reaches.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attentionviz.store.reader import Run
from tests.e2e.conftest import App

pytestmark = pytest.mark.browser

QUERY_HIT = (84, 148, 61)  # light theme search highlight of a query copy
KEY_HIT = (193, 91, 125)


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


def patch_rows(run: Run, sequence: int) -> tuple[int, int, np.ndarray, np.ndarray]:
    """(first token, length, patch row, patch column) of one image; rows and columns are -1 for [CLS]."""
    start, length = run.sequence_bounds(sequence)
    tokens = run.tokens
    rows = tokens["patch_row"].to_numpy()[start : start + length]
    cols = tokens["patch_col"].to_numpy()[start : start + length]
    return start, length, rows, cols


def contrasted_patch(run: Run, layer: int, head: int) -> tuple[int, int]:
    """(sequence, position) of the patch whose attention over the other patches varies most (its
    strongest patch against its weakest), so a heatmap must tell them apart whatever the weights."""
    best = (0, 0, -1.0)
    for sequence in range(run.info.n_sequences):
        _, _, rows, _ = patch_rows(run, sequence)
        attention = run.head(layer, head).attention(sequence)
        patches = np.flatnonzero(rows >= 0)
        for q in patches:
            values = attention[q, patches]
            contrast = float(values.min() / values.max())
            if best[2] < 0 or contrast < best[2]:
                best = (sequence, int(q), contrast)
    return best[0], best[1]


def tile(pixels: np.ndarray, rows: np.ndarray, cols: np.ndarray, q: int, grid: int = 4) -> np.ndarray:
    """The inside of patch q's square in a crop of the Image View's picture ([h, w, 3])."""
    cell = pixels.shape[0] // grid
    return pixels[
        rows[q] * cell + 8 : (rows[q] + 1) * cell - 8, cols[q] * cell + 8 : (cols[q] + 1) * cell - 8
    ]


def heat(pixels: np.ndarray) -> float:
    """How strongly the heatmap colours a tile: the digits are grey, the colour map is not."""
    return float((pixels.max(axis=2) - pixels.min(axis=2)).mean())


def image_svg(app: Any, name: str) -> np.ndarray:
    shot = app.screenshot(name)
    box = app.page.get_by_test_id("image-svg").bounding_box()
    crop = (int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), int(box["y"] + box["height"]))
    return np.asarray(shot.crop(crop), dtype=np.int16)


def open_patch(app: Any, run: Run, layer: int, head: int, sequence: int, position: int) -> None:
    start, _ = run.sequence_bounds(sequence)
    app.open(f"run=digits&view=single&layer={layer}&head={head}&projection=pca")
    xy = app.page.evaluate(f"window.__attentionviz.controller.screenOf({start + position})")
    app.act(lambda: app.page.mouse.click(xy[0], xy[1]))
    app.page.wait_for_function("document.querySelector('[data-testid=image-svg] image').getBBox().width > 0")


def test_patches_are_drawn_as_thumbnails_and_the_image_view_shows_a_heatmap(
    image_app: Any, digits_run: Path
) -> None:
    app = image_app
    run = Run(digits_run)
    app.open("run=digits&view=single&layer=1&head=2&projection=pca")
    image = app.screenshot("image-run-thumbnails")
    x0, y0, x1, y1 = app.canvas_box()
    pixels = np.asarray(image.crop((x0, y0, x1, y1)), dtype=np.int16)
    # digit patches are grey levels between black ink and white paper: many dark, near-neutral pixels
    neutral = np.abs(pixels - pixels.mean(axis=2, keepdims=True)).max(axis=2) < 12
    dark = pixels.mean(axis=2) < 90
    assert (neutral & dark).sum() > 1500, "the points are patch thumbnails, not coloured dots"
    assert app.page.locator(".avz-label").count() == 0, "an image run opens without token labels"

    sequence, position = contrasted_patch(run, 1, 2)
    open_patch(app, run, 1, 2, sequence, position)
    assert app.page.get_by_test_id("image-view").is_visible()
    svg = image_svg(app, "image-view-heatmap")
    _, length, rows, cols = patch_rows(run, sequence)
    attention = run.head(1, 2).attention(sequence)
    values = {q: attention[position, q] for q in range(length) if rows[q] >= 0}
    strongest, weakest = max(values, key=values.get), min(values, key=values.get)  # type: ignore[arg-type]
    assert heat(tile(svg, rows, cols, strongest)) > heat(tile(svg, rows, cols, weakest)) + 40, (
        "the heatmap colours most where the patch attends most, and lets the image show where it attends least"
    )
    top = tile(svg, rows, cols, strongest).reshape(-1, 3).mean(axis=0)
    assert top[0] > 150 and top[1] > 150 and top[2] < 110, f"the top of the colour map is yellow, not {top}"
    cls = app.page.get_by_test_id("attention-to-cls").text_content()
    assert f"{attention[position, 0]:.3f}" in cls
    swatch = app.page.get_by_test_id("cls-swatch").evaluate("el => getComputedStyle(el).backgroundColor")
    assert swatch.startswith("rgba(") or swatch.startswith("rgb("), "[CLS] has a swatch on the heat scale"
    assert f"{values[strongest]:.3f}" in app.page.get_by_test_id("heat-scale").text_content()
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
    """A head and image whose patches point at as many kinds of target as this model has: at
    themselves, at [CLS] and at other patches (all three where some image has them)."""
    best: tuple[int, tuple[int, int, int]] = (-1, (0, 0, 0))
    for layer in range(run.info.layers):
        for head in range(run.info.heads):
            for sequence in range(run.info.n_sequences):
                _, length, rows, _ = patch_rows(run, sequence)
                strongest = run.head(layer, head).attention(sequence).argmax(axis=1)
                kinds = {
                    "self" if strongest[q] == q else "cls" if rows[strongest[q]] < 0 else "line"
                    for q in range(length)
                    if rows[q] >= 0
                }
                if len(kinds) > best[0]:
                    best = (len(kinds), (layer, head, sequence))
    return best[1]


def test_the_image_view_shows_attention_paid_received_arrows_and_flows(
    image_app: Any, digits_run: Path
) -> None:
    app = image_app
    run = Run(digits_run)
    layer, head, sequence = arrow_case(run)
    _, length, rows, cols = patch_rows(run, sequence)
    attention = run.head(layer, head).attention(sequence)
    patches = [q for q in range(length) if rows[q] >= 0]
    # the patch whose paid and received attention both vary most across the patches
    position = max(
        patches,
        key=lambda q: min(
            np.ptp(attention[q, patches]) / attention[q, patches].max(),
            np.ptp(attention[patches, q]) / attention[patches, q].max(),
        ),
    )
    open_patch(app, run, layer, head, sequence, position)
    assert app.page.get_by_test_id("image-heatmap").is_checked()
    assert not app.page.get_by_test_id("image-as-key").is_checked(), (
        "a selected patch shows the attention it pays"
    )

    def check_heatmap(values: np.ndarray, name: str) -> None:
        pixels = image_svg(app, f"image-view-{name}")
        order = sorted(patches, key=lambda q: values[q])
        assert heat(tile(pixels, rows, cols, order[-1])) > heat(tile(pixels, rows, cols, order[0])) + 25

    check_heatmap(attention[position], "paid")
    app.page.get_by_test_id("image-as-key").check()
    check_heatmap(attention[:, position], "received")
    assert f"{attention[position, 0]:.3f}" in app.page.get_by_test_id("attention-to-cls").text_content()

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
    pixels = image_svg(app, "image-view-arrows")
    yellow = ((pixels[..., 0] > 200) & (pixels[..., 1] > 170) & (pixels[..., 2] < 90)).sum()
    blue = (
        (pixels[..., 2] > 180) & (pixels[..., 0] < 90) & (pixels[..., 1] > 110) & (pixels[..., 1] < 180)
    ).sum()
    assert yellow > 30 * (len(patches) - selfs - to_cls), "an arrow to each patch's strongest patch"
    assert blue >= 25 * to_cls, "[CLS] marked"

    app.page.get_by_test_id("image-flows").check()
    among = attention[np.ix_(patches, patches)] * (1 - np.eye(len(patches), dtype=np.float32))
    flows = np.sort(among[among > 0])[::-1]
    # two thresholds from this model's own flows (rounded down to the input's 0.001 steps):
    # about 40 flows pass the first, about 6 the second
    low, high = (np.floor(flows[min(k, len(flows)) - 1] * 1000) / 1000 for k in (40, 6))
    assert high > low
    for threshold in (low, high):
        app.page.get_by_test_id("threshold").fill(f"{threshold:.3f}")
        app.page.get_by_test_id("threshold").dispatch_event("change")
        lines = app.page.locator("[data-testid=image-svg] line")
        count = lines.count()
        assert int((among >= threshold + 1e-5).sum()) <= count <= int((among >= threshold - 1e-5).sum())
    assert 0 < count < int((among >= low).sum())
    drawn = lines.evaluate_all(
        "ls => ls.map(l => [Number(l.dataset.weight), Number(l.getAttribute('stroke-width'))])"
    )
    by_weight = sorted(drawn)
    assert by_weight[-1][1] > by_weight[0][1] or by_weight[-1][0] == by_weight[0][0], (
        "wider for more attention"
    )
    assert all(a[1] <= b[1] for a, b in itertools.pairwise(by_weight))
    pixels = image_svg(app, "image-view-flows")
    assert ((pixels[..., 0] > 200) & (pixels[..., 1] > 170) & (pixels[..., 2] < 90)).sum() > 0
    assert not app.errors


def near(pixels: np.ndarray, color: tuple[int, int, int], tolerance: int = 24) -> int:
    return int((np.abs(pixels - np.array(color)).max(axis=2) <= tolerance).sum())


def test_an_image_run_offers_image_colourings_only_and_opens_without_labels(image_app: Any) -> None:
    app = image_app
    app.open("run=digits&view=single&layer=0&head=0&projection=pca")
    options = app.page.get_by_test_id("color").locator("option").evaluate_all("os => os.map(o => o.value)")
    assert set(options) == {
        "query_key",
        "norm",
        "keys_needed",
        "patch_row",
        "patch_col",
    }  # keys_needed: any attention
    assert not app.page.get_by_test_id("labels").is_checked()
    assert app.page.locator(".avz-label").count() == 0
    assert "(0,0)" in app.page.get_by_test_id("search").get_attribute("placeholder")
    # image 0's patch (1,0), as a query
    xy = app.page.evaluate("window.__attentionviz.controller.screenOf(5)")
    app.page.mouse.move(xy[0], xy[1])
    tooltip = app.page.get_by_test_id("tooltip")
    tooltip.wait_for()
    assert "image 0" in tooltip.text_content() and "patch row 1, column 0" in tooltip.text_content()
    # a URL can still ask for labels
    app.open("run=digits&view=single&layer=0&head=0&projection=pca&labels=1")
    assert app.page.get_by_test_id("labels").is_checked() and app.page.locator(".avz-label").count() > 0


def test_search_hits_stand_out_among_the_patches_in_the_matrix_and_single_views(image_app: Any) -> None:
    app = image_app
    for view, name in (("view=matrix", "matrix"), ("view=single&layer=2&head=1", "single")):
        app.open(f"run=digits&{view}&projection=pca")
        box = app.canvas_box()
        before = np.asarray(app.screenshot(f"image-search-{name}-before").crop(box), dtype=np.int16)
        app.act(lambda: app.page.get_by_test_id("search").fill("[CLS]"))
        assert " ".join(app.page.get_by_test_id("search-count").text_content().split()).startswith(
            "20 matches in 20 images"
        )
        after = np.asarray(app.screenshot(f"image-search-{name}-cls").crop(box), dtype=np.int16)
        for color in (QUERY_HIT, KEY_HIT):
            assert near(after, color) > near(before, color) + 150, (name, color)
        # the other patches fade: far fewer dark thumbnail pixels
        assert (after.mean(axis=2) < 70).sum() < 0.5 * (before.mean(axis=2) < 70).sum(), name
    assert not app.errors


def test_the_single_view_draws_patches_with_an_outline_a_fill_or_plain(image_app: Any) -> None:
    app = image_app
    app.open("run=digits&view=single&layer=1&head=1&projection=pca")
    box = app.canvas_box()
    assert app.page.get_by_test_id("patches-outline").is_checked()
    shots = {"outline": np.asarray(app.screenshot("image-patches-outline").crop(box), dtype=np.int16)}
    for style in ("fill", "plain"):
        app.act(lambda style=style: app.page.get_by_test_id(f"patches-{style}").check())
        assert f"patches={style}" in app.page.url
        shots[style] = np.asarray(app.screenshot(f"image-patches-{style}").crop(box), dtype=np.int16)

    def coloured(pixels: np.ndarray) -> int:
        return int(((pixels.max(axis=2) - pixels.min(axis=2)) > 60).sum())

    assert coloured(shots["plain"]) < 200, "no outline: the patches as they are"
    assert coloured(shots["outline"]) > 3000, "query and key discs around the patches"
    assert coloured(shots["fill"]) > 1000, "the patches tinted with their colour"
    assert np.abs(shots["fill"] - shots["outline"]).max(axis=2).mean() > 3
    assert not app.errors


def test_the_image_panels_follow_the_dark_theme(image_app: Any, digits_run: Path) -> None:
    app = image_app
    app.open("run=digits&view=single&layer=0&head=1&projection=pca&theme=dark")
    image = app.screenshot("image-grid-dark")
    grid = app.page.get_by_test_id("image-grid").bounding_box()
    band = np.asarray(
        image.crop(
            (int(grid["x"]) + 2, int(grid["y"]) + 2, int(grid["x"] + grid["width"]) - 2, int(grid["y"]) + 20)
        )
    )
    assert np.median(band.reshape(-1, 3), axis=0).max() < 60, "a dark image grid"
    app.act(lambda: app.page.get_by_test_id("image-grid-cell").nth(3).click())
    image = app.screenshot("image-view-dark")
    panel = app.page.get_by_test_id("sentence-view").bounding_box()
    pixels = np.asarray(
        image.crop(
            (
                int(panel["x"]),
                int(panel["y"]),
                int(panel["x"] + panel["width"]),
                int(panel["y"] + panel["height"]),
            )
        )
    )
    assert np.median(pixels.reshape(-1, 3), axis=0).max() < 60, "a dark Image View panel"
    assert not app.errors


def test_switching_from_a_text_run_to_an_image_run_resets_what_means_nothing_there(
    browser: Any, e2e_runs: Path, digits_run: Path
) -> None:
    from attentionviz.hosts.snapshot import served

    with served([e2e_runs / "synthetic", digits_run]) as url:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        app = App(context.new_page(), url)
        try:
            app.open("run=synthetic&search=cat&color=frequency")
            assert app.page.get_by_test_id("search-count").is_visible()
            app.act(lambda: app.page.get_by_test_id("run-select").select_option("digits"))
            assert "run=digits" in app.page.url
            assert "search=" not in app.page.url and "color=" not in app.page.url
            assert app.page.get_by_test_id("search").input_value() == ""
            assert app.page.get_by_test_id("search-count").count() == 0
            assert app.page.get_by_test_id("color").input_value() == "query_key"
            assert not app.page.get_by_test_id("labels").is_checked()
            app.screenshot("switched-to-image-run")
            app.page.reload()
            app.rendered()
            assert app.page.get_by_test_id("run-select").input_value() == "digits"
            app.act(lambda: app.page.get_by_test_id("color").select_option("patch_row"))
            app.act(lambda: app.page.get_by_test_id("run-select").select_option("synthetic"))
            assert app.page.get_by_test_id("color").input_value() == "query_key"
            assert app.page.get_by_test_id("labels").is_checked()
            assert not app.errors
        finally:
            context.close()
