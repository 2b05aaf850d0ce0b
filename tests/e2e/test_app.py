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
