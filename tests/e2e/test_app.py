"""The web app in Chromium: Matrix View, opening a head, search, colourings, projections, 2D/3D."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attentionviz.store.reader import Run

pytestmark = pytest.mark.browser

QUERY_HIT = (84, 148, 61)  # light theme search highlight of a query copy
KEY_HIT = (193, 91, 125)


def ink(image: Any, box: tuple[float, float, float, float]) -> int:
    """Pixels in `box` that stand out from the cell's flat grey (points drawn there)."""
    x0, y0, x1, y1 = (round(v) for v in box)
    pixels = np.asarray(image.crop((x0 + 2, y0 + 2, x1 - 2, y1 - 2)), dtype=np.int16)  # [h, w, 3]
    background = np.median(pixels.reshape(-1, 3), axis=0)
    return int((np.abs(pixels - background).max(axis=2) > 40).sum())


def near(image: Any, color: tuple[int, int, int], box: tuple[int, int, int, int], tolerance: int = 18) -> int:
    pixels = np.asarray(image.crop(box), dtype=np.int16)
    return int((np.abs(pixels - np.array(color)).max(axis=2) <= tolerance).sum())


@pytest.mark.parametrize("run_id", ["synthetic", "minilm"])
def test_matrix_view_draws_every_head(app: Any, run_id: str, e2e_runs: Path, minilm_run: Path) -> None:
    event = app.open(f"run={run_id}")
    assert event["view"] == "matrix"
    run = Run(e2e_runs / "synthetic" if run_id == "synthetic" else minilm_run)
    cells = app.page.evaluate("window.__attentionviz.cells()")
    assert len(cells) == run.info.layers * run.info.heads
    image = app.screenshot(f"matrix-{run_id}")
    empty = [
        (c["layer"], c["head"])
        for c in cells
        if ink(image, (c["x"], c["y"], c["x"] + c["width"], c["y"] + c["height"])) < 15
    ]
    assert not empty, f"cells without points: {empty}"
    assert app.page.locator(".avz-cell-label").first.text_content() == "L0 H0"
    assert not app.errors


def test_clicking_a_cell_opens_that_head(app: Any) -> None:
    app.open("run=synthetic")
    cell = next(
        c for c in app.page.evaluate("window.__attentionviz.cells()") if (c["layer"], c["head"]) == (1, 2)
    )
    event = app.act(
        lambda: app.page.mouse.click(cell["x"] + cell["width"] / 2, cell["y"] + cell["height"] / 2)
    )
    assert event["view"] == "single"
    assert app.page.get_by_test_id("head-title").text_content() == "Layer 1 Head 2"
    assert "view=single" in app.page.url and "layer=1" in app.page.url and "head=2" in app.page.url
    image = app.screenshot("single-after-click")
    assert ink(image, app.canvas_box()) > 500
    # back to every head
    event = app.act(lambda: app.page.get_by_test_id("view-all").click())
    assert event["view"] == "matrix"


def test_state_in_the_url_reopens_the_same_view(app: Any) -> None:
    event = app.open("run=synthetic&view=single&layer=2&head=3&projection=pca&color=position&search=cat")
    assert event["view"] == "single"
    assert app.page.get_by_test_id("head-title").text_content() == "Layer 2 Head 3"
    assert app.page.get_by_test_id("projection").input_value() == "pca"
    assert app.page.get_by_test_id("color").input_value() == "position"
    assert app.page.get_by_test_id("search").input_value() == "cat"


def test_search_lights_up_hits_in_every_head_with_a_count(app: Any, e2e_runs: Path) -> None:
    tokens = Run(e2e_runs / "synthetic").tokens
    app.open("run=synthetic")
    before = app.screenshot("matrix-before-search")
    app.act(lambda: app.page.get_by_test_id("search").fill("[cls]"))
    expected = int((tokens["token"].str.lower() == "[cls]").sum())
    assert expected == int(tokens["position"].eq(0).sum())  # one per sequence, the token at index 0 included
    assert app.page.get_by_test_id("search-count").text_content().startswith(f"{expected} matches")
    image = app.screenshot("matrix-search-cls")
    box = app.canvas_box()
    assert near(image, QUERY_HIT, box) > near(before, QUERY_HIT, box) + 50
    assert near(image, KEY_HIT, box) > near(before, KEY_HIT, box) + 50

    app.act(lambda: app.page.get_by_test_id("match").select_option("substring"))
    contains = int(tokens["token"].str.lower().str.contains("[cls]", regex=False).sum())
    assert app.page.get_by_test_id("search-count").text_content().startswith(f"{contains} matches")
    app.act(lambda: app.page.get_by_test_id("search-clear").click())
    assert app.page.get_by_test_id("search-count").count() == 0


def test_search_highlights_in_the_single_view(app: Any) -> None:
    app.open("run=synthetic&view=single&layer=0&head=1")
    app.act(lambda: app.page.get_by_test_id("search").fill("cat"))
    image = app.screenshot("single-search-cat")
    box = app.canvas_box()
    assert near(image, QUERY_HIT, box) > 20 and near(image, KEY_HIT, box) > 20
    labels = app.page.locator(".avz-label").all_text_contents()
    assert labels and {label.lower() for label in labels} == {"cat"}


def picture(app: Any, name: str) -> np.ndarray:
    return np.asarray(app.screenshot(name).crop(app.canvas_box()), dtype=np.int16)


def changed(a: np.ndarray, b: np.ndarray) -> float:
    return float((np.abs(a - b).max(axis=2) > 30).mean())


def test_colouring_projection_and_dimension_change_the_picture(app: Any) -> None:
    app.open("run=synthetic&view=single&layer=1&head=1&labels=0")
    base = picture(app, "single-query-key")
    app.act(lambda: app.page.get_by_test_id("color").select_option("position"))
    coloured = picture(app, "single-position")
    assert changed(base, coloured) > 0.001
    legend = app.page.get_by_test_id("legend").text_content()
    assert "position" in legend and "start" in legend
    app.act(lambda: app.page.get_by_test_id("projection").select_option("pca"))
    projected = picture(app, "single-pca")
    assert changed(coloured, projected) > 0.001
    app.act(lambda: app.page.get_by_test_id("dim-3").check())
    assert "dim=3" in app.page.url
    three = picture(app, "single-pca-3d")
    assert changed(projected, three) > 0.001
    assert ink(app.screenshot("single-pca-3d"), app.canvas_box()) > 300


def test_every_colouring_draws(app: Any) -> None:
    app.open("run=synthetic&view=single&layer=0&head=0")
    for mode in ("pos_mod_5", "punctuation", "norm", "token_length", "seq_length", "frequency"):
        app.act(lambda mode=mode: app.page.get_by_test_id("color").select_option(mode))
        assert ink(app.screenshot(f"single-colour-{mode}"), app.canvas_box()) > 300, mode
    assert not app.errors


def test_adjacent_head_arrows_and_dark_theme(app: Any) -> None:
    app.open("run=synthetic&view=single&layer=0&head=0")
    assert app.page.get_by_test_id("prev-layer").is_disabled()
    app.act(lambda: app.page.get_by_test_id("next-head").click())
    assert app.page.get_by_test_id("head-title").text_content() == "Layer 0 Head 1"
    app.act(lambda: app.page.get_by_test_id("next-layer").click())
    assert app.page.get_by_test_id("head-title").text_content() == "Layer 1 Head 1"
    app.act(lambda: app.page.get_by_test_id("theme").click())
    image = app.screenshot("single-dark")
    x0, y0, _, _ = app.canvas_box()
    assert max(image.getpixel((x0 + 5, y0 + 5))) < 60  # a dark background


def test_hover_shows_the_token_and_its_sentence(app: Any) -> None:
    app.open("run=synthetic&view=single&layer=0&head=2&labels=0")
    point = app.page.evaluate(
        """(() => { const c = window.__attentionviz.controller; const s = c.single;
           const p = s.worldOf(0); const v = c.canvas.project(p);
           const r = c.canvas.parent.getBoundingClientRect(); return [r.left + v[0], r.top + v[1]]; })()"""
    )
    app.page.mouse.move(point[0], point[1])
    tooltip = app.page.get_by_test_id("tooltip")
    tooltip.wait_for()
    text = tooltip.text_content()
    assert ("query" in text or "key" in text) and "position" in text and " of " in text
    app.screenshot("single-tooltip")


def test_a_head_without_the_layout_says_so(app: Any) -> None:
    event = app.open("run=synthetic&view=single&layer=0&head=0&projection=umap")
    # umap does not exist in this run: the app falls back to a projection that does
    assert event["view"] == "single"
    assert app.page.get_by_test_id("projection").input_value() in ("tsne", "pca")


def test_a_deep_grid_opens_on_a_projection_every_head_has_and_fills_the_window(app: Any) -> None:
    """SmolLM2's 30 x 9 heads while t-SNE exists for two: PCA, which every head has, in big cells."""
    from tests.e2e.conftest import DEEP_TSNE_HEADS

    app.open("run=deep")
    assert app.page.get_by_test_id("projection").input_value() == "pca"
    note = app.page.get_by_test_id("waiting-note").text_content()
    assert f"ready for {DEEP_TSNE_HEADS} of 270 heads" in note
    image = app.screenshot("matrix-deep-grid")
    cells = app.page.evaluate("window.__attentionviz.cells()")
    assert len(cells) == 270
    x0, y0, x1, y1 = app.canvas_box()
    empty = [
        (c["layer"], c["head"])
        for c in cells
        if ink(image, (c["x"], c["y"], c["x"] + c["width"], c["y"] + c["height"])) < 15
    ]
    assert not empty, f"cells without points: {empty[:10]}"
    assert min(c["width"] for c in cells) > 36, "cells big enough to see a head's shape"
    left, right = min(c["x"] for c in cells), max(c["x"] + c["width"] for c in cells)
    top, bottom = min(c["y"] for c in cells), max(c["y"] + c["height"] for c in cells)
    assert x0 - 1 <= left and right <= x1 + 1 and y0 - 1 <= top and bottom <= y1 + 1, "every head is in view"
    assert (right - left) * (bottom - top) > 0.55 * (x1 - x0) * (y1 - y0), "the grid uses the window"
    # the head headers of each block sit above its cells; a click opens the right head
    cell = next(c for c in cells if (c["layer"], c["head"]) == (20, 6))
    event = app.act(
        lambda: app.page.mouse.click(cell["x"] + cell["width"] / 2, cell["y"] + cell["height"] / 2)
    )
    assert event["view"] == "single"
    assert app.page.get_by_test_id("head-title").text_content() == "Layer 20 Head 6"
    # asking for t-SNE shows it where it exists, and says the rest is still missing
    app.act(lambda: app.page.get_by_test_id("view-all").click())
    app.act(lambda: app.page.get_by_test_id("waiting-show").click())
    assert app.page.get_by_test_id("projection").input_value() == "tsne"
    assert app.page.locator(".avz-cell.missing").count() == 270 - DEEP_TSNE_HEADS
    assert not app.errors


def test_heads_whose_keys_were_left_untranslated_are_marked_in_the_matrix_view(app: Any) -> None:
    from tests.e2e.conftest import DEEP_UNTRANSLATED

    app.open("run=deep")
    marks = app.page.locator(".avz-raw")
    assert marks.count() == len(DEEP_UNTRANSLATED)
    assert sorted(marks.evaluate_all("els => els.map(e => e.dataset.cell)")) == sorted(
        f"{layer}.{head}" for layer, head in DEEP_UNTRANSLATED
    )
    assert "2 heads keep their keys untranslated" in app.page.get_by_test_id("raw-note").text_content()
    image = app.screenshot("matrix-untranslated-marks")
    layer, head = DEEP_UNTRANSLATED[0]
    cell = next(
        c
        for c in app.page.evaluate("window.__attentionviz.cells()")
        if (c["layer"], c["head"]) == (layer, head)
    )
    corner = np.asarray(
        image.crop(
            (
                round(cell["x"] + cell["width"]) - 6,
                round(cell["y"]),
                round(cell["x"] + cell["width"]),
                round(cell["y"]) + 4,
            )
        ),
        dtype=np.int16,
    )
    assert (np.abs(corner - np.array((217, 139, 30))).max(axis=2) < 40).sum() >= 4, "an orange corner mark"
    app.page.mouse.move(cell["x"] + cell["width"] / 2, cell["y"] + cell["height"] / 2)
    assert "untranslated" in app.page.get_by_test_id("tooltip").text_content()


def test_switching_runs_updates_the_url_and_a_reload_opens_that_run(app: Any) -> None:
    app.open("run=synthetic&search=the&match=substring&color=frequency")
    app.act(lambda: app.page.get_by_test_id("run-select").select_option("minilm"))
    assert "run=minilm" in app.page.url
    # the same kind of run: the search and colouring still mean something, and stay
    assert app.page.get_by_test_id("search").input_value() == "the"
    assert app.page.get_by_test_id("color").input_value() == "frequency"
    app.page.reload()
    app.rendered()
    assert app.page.get_by_test_id("run-select").input_value() == "minilm"
    app.page.go_back()
    app.rendered()
    assert app.page.get_by_test_id("run-select").input_value() == "synthetic"
    assert not app.errors


def test_clicking_empty_canvas_clears_the_search(app: Any) -> None:
    app.open("run=synthetic&view=single&layer=0&head=1&search=cat")
    assert app.page.get_by_test_id("search-count").is_visible()
    x0, y0, _, _ = app.canvas_box()
    app.act(lambda: app.page.mouse.click(x0 + 4, y0 + 4))  # a corner: no point there
    assert app.page.get_by_test_id("search-count").count() == 0
    assert app.page.get_by_test_id("search").input_value() == ""
    assert "search=" not in app.page.url
    # in the Matrix View too: a click between cells
    app.open("run=synthetic&search=cat")
    cells = app.page.evaluate("window.__attentionviz.cells()")
    first, second = (next(c for c in cells if (c["layer"], c["head"]) == (0, h)) for h in (0, 1))
    gap_x = (first["x"] + first["width"] + second["x"]) / 2
    app.act(lambda: app.page.mouse.click(gap_x, first["y"] + first["height"] / 2))
    assert app.page.get_by_test_id("search-count").count() == 0
    assert app.page.evaluate("window.__attentionviz.controller.urlState().view") == "matrix"
    assert not app.errors


def test_size_by_norm_draws_bigger_points_for_longer_vectors_without_errors(app: Any) -> None:
    app.open("run=synthetic&view=single&layer=1&head=2&labels=0")
    flat = picture(app, "single-flat-size")
    app.act(lambda: app.page.get_by_test_id("size-by-norm").check())
    sized = picture(app, "single-size-by-norm")
    assert changed(flat, sized) > 0.002
    app.act(lambda: app.page.get_by_test_id("color").select_option("position"))  # another render, still sized
    assert not app.errors, app.errors  # deck.gl logged "props.sizes has been removed" on every render


def test_the_tooltip_goes_when_a_scroll_opens_a_head_and_when_a_click_opens_the_sentence_view(
    app: Any,
) -> None:
    app.open("run=synthetic")
    cell = next(
        c for c in app.page.evaluate("window.__attentionviz.cells()") if (c["layer"], c["head"]) == (1, 1)
    )
    app.page.mouse.move(cell["x"] + cell["width"] / 2, cell["y"] + cell["height"] / 2)
    tooltip = app.page.get_by_test_id("tooltip")
    tooltip.wait_for()
    for _ in range(12):
        app.page.mouse.wheel(0, -400)
        if app.page.evaluate("window.__attentionviz.controller.urlState().view") == "single":
            break
    app.page.wait_for_function("window.__attentionviz.controller.urlState().view === 'single'")
    app.rendered()
    assert tooltip.count() == 0, "the Matrix View's cell tooltip stayed over the opened head"

    app.open("run=synthetic&view=single&layer=0&head=2&labels=0")
    xy = app.page.evaluate("window.__attentionviz.controller.screenOf(5)")
    app.page.mouse.move(xy[0], xy[1])
    tooltip.wait_for()
    app.act(lambda: app.page.mouse.click(xy[0], xy[1]))
    assert app.page.get_by_test_id("sentence-view").is_visible()
    app.screenshot("tooltip-after-click")
    assert tooltip.count() == 0, "the point's tooltip stayed after the Sentence View opened"
