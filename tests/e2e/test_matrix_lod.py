"""The Matrix View under level of detail: search hits the sample leaves out, the count, the grid's
place, and the head panel's fidelity lines."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attentionviz.readmodel.tables import lod_order
from attentionviz.store.reader import Run

pytestmark = pytest.mark.browser

QUERY_HIT = (84, 148, 61)  # light theme search highlight of a query copy
KEY_HIT = (193, 91, 125)
BUDGET = 1200  # 12 cells of the synthetic run: 100 of its 800 points per head


def near(image: Any, color: tuple[int, int, int], box: tuple[float, float, float, float]) -> int:
    x0, y0, x1, y1 = (round(v) for v in box)
    pixels = np.asarray(image.crop((x0, y0, x1, y1)), dtype=np.int16)  # [h, w, 3]
    return int((np.abs(pixels - np.array(color)).max(axis=2) <= 18).sum())


def unsampled_token(run: Run, drawn: int) -> tuple[str, int]:
    """A token text whose every occurrence lies outside the first `drawn` LOD rows, and its count."""
    n = run.info.n_tokens
    rank = np.empty(2 * n, dtype=np.int64)
    rank[lod_order(n)] = np.arange(2 * n)
    tokens = run.tokens.assign(text=run.tokens["token"].str.lower(), rank=rank[:n])
    groups = tokens.groupby("text")["rank"].agg(["min", "size"])
    outside = groups[(groups["min"] >= drawn) & (groups["size"] <= 12)].sort_values("size", ascending=False)
    assert len(outside), "the synthetic run has no token wholly outside the LOD sample"
    return str(outside.index[0]), int(outside["size"].iloc[0])


def test_a_hit_outside_the_lod_sample_is_drawn_in_every_head(app: Any, e2e_runs: Path) -> None:
    run = Run(e2e_runs / "synthetic")
    app.open(f"run=synthetic&budget={BUDGET}")
    note = app.page.get_by_test_id("lod-note").text_content()
    drawn = int(re.match(r"\s*([\d,]+) of", note)[1].replace(",", ""))
    assert drawn < 2 * run.info.n_tokens
    text, count = unsampled_token(run, drawn)
    before = app.screenshot("matrix-lod-before-search")
    app.act(lambda: app.page.get_by_test_id("search").fill(text))
    assert app.page.get_by_test_id("search-count").text_content().startswith(f"{count} match")
    image = app.screenshot("matrix-lod-hit-outside-sample")
    cells = app.page.evaluate("window.__attentionviz.cells()")
    for cell in cells:
        box = (cell["x"], cell["y"], cell["x"] + cell["width"], cell["y"] + cell["height"])
        for color in (QUERY_HIT, KEY_HIT):
            assert near(image, color, box) > near(before, color, box) + 4, (cell, color)
    assert not app.errors


def test_the_search_count_does_not_depend_on_the_level_of_detail(app: Any, e2e_runs: Path) -> None:
    counts = []
    for budget in (BUDGET, 10_000_000):
        app.open(f"run=synthetic&budget={budget}&search=the&match=substring")
        counts.append(app.page.get_by_test_id("search-count").text_content().split(" in ")[0])
    tokens = Run(e2e_runs / "synthetic").tokens["token"].str.lower()
    assert counts == [f"{int(tokens.str.contains('the').sum())} matches"] * 2


def test_a_wide_grid_starts_just_under_its_column_headers(app: Any) -> None:
    app.open("run=minilm")  # 6 layers x 12 heads: the width limits the zoom
    top = app.canvas_box()[1]
    first = min(cell["y"] for cell in app.page.evaluate("window.__attentionviz.cells()"))
    assert first - top < 60, "empty band above the Matrix View"


def test_the_head_panel_shows_fidelity_one_line_per_layout(app: Any, minilm_run: Path) -> None:
    app.open("run=minilm&view=single&layer=2&head=3&projection=tsne")
    table = app.page.get_by_test_id("fidelity")
    fidelity = Run(minilm_run).head(2, 3).fidelity
    for key, rho in fidelity["layouts"].items():
        row = table.locator(f"tr[data-layout='{key}']")
        cells = row.locator("td").all_text_contents()
        knn = fidelity["quality"][key]["knn_preservation"]
        assert cells[1] == f"{rho:.2f}".replace("-", "−") and cells[2] == f"{round(100 * knn)}%", cells
    assert table.locator("tr.current").get_attribute("data-layout") == "tsne.2d"
    assert "Spearman" in app.page.get_by_test_id("head-panel").text_content()


def test_zooming_in_gives_the_cells_in_view_more_points(app: Any) -> None:
    app.open(f"run=synthetic&budget={BUDGET}")
    drawn = int(re.match(r"\s*([\d,]+) of", app.page.get_by_test_id("lod-note").text_content())[1])
    cell = next(
        c for c in app.page.evaluate("window.__attentionviz.cells()") if (c["layer"], c["head"]) == (1, 1)
    )
    app.page.mouse.move(cell["x"] + cell["width"] / 2, cell["y"] + cell["height"] / 2)
    event = app.act(lambda: app.page.mouse.wheel(0, -300))  # zoom in, not yet into the head
    assert event["view"] == "matrix"
    in_view = re.search(
        r"\(([\d,]+) in the cells in view\)", app.page.get_by_test_id("lod-note").text_content()
    )
    assert in_view and int(in_view[1].replace(",", "")) > drawn
    image = app.screenshot("matrix-lod-zoomed")
    cell = next(
        c for c in app.page.evaluate("window.__attentionviz.cells()") if (c["layer"], c["head"]) == (1, 1)
    )
    pixels = np.asarray(
        image.crop((cell["x"], cell["y"], cell["x"] + cell["width"], cell["y"] + cell["height"]))
    )
    assert (
        np.abs(pixels.astype(np.int16) - np.median(pixels.reshape(-1, 3), axis=0)).max(axis=2) > 40
    ).sum() > 300
    assert not app.errors
