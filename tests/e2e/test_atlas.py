"""The head atlas in Chromium: the Matrix View by a metric (coloured, sorted, top K), the head map,
related heads, the keys-for-90% colouring, probe attention and the value layout beside the joint one.

Pixel facts after the app's render event; screenshots in test-output/e2e/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import attentionviz as av
from attentionviz.analysis.pipeline import analyse_run
from tests.e2e.conftest import App
from tests.e2e.test_app import ink
from tests.support.synthetic import make_synthetic_run

pytestmark = pytest.mark.browser

# frontend/src/atlas/scale.ts: viridis, 9 stops, interpolated linearly
_STOPS = ["#440154", "#472d7b", "#3b528b", "#2c728e", "#21918c", "#28ae80", "#5ec962", "#addc30", "#fde725"]
_RGB = np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in _STOPS], dtype=np.float64)
VIRIDIS_256 = np.stack(
    [np.interp(np.linspace(0, 8, 256), np.arange(9), _RGB[:, c]) for c in range(3)], axis=1
)


@pytest.fixture(scope="module")
def atlas_runs(tmp_path_factory: pytest.TempPathFactory, minilm_run: Path) -> list[Path]:
    """A synthetic run with probes and value vectors (analysed), beside the real MiniLM run."""
    folder = tmp_path_factory.mktemp("atlas-e2e")
    make_synthetic_run(
        folder / "valued",
        layers=2,
        heads=3,
        tokens=300,
        layouts=(("pca", 2),),
        probes=True,
        values=True,
        seed=5,
    )
    analyse_run(folder / "valued", workers=1)
    return [folder / "valued", minilm_run]


@pytest.fixture(scope="module")
def atlas_server(atlas_runs: list[Path]) -> Iterator[str]:
    from attentionviz.hosts.snapshot import served

    with served(atlas_runs) as url:
        yield url


@pytest.fixture
def page(browser: Any, atlas_server: str) -> Iterator[App]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    yield App(context.new_page(), atlas_server)
    context.close()


def viridis_position(color: np.ndarray) -> float:
    """Where an RGB colour sits on the viridis scale (0 dark purple .. 1 yellow), to 1/255."""
    return float(np.argmin(((VIRIDIS_256 - color) ** 2).sum(axis=1)) / 255)


def frame_colour(image: Any, cell: dict[str, float]) -> np.ndarray:
    """The median colour of the ring just below a cell (its metric frame)."""
    x0, x1 = round(cell["x"] + cell["width"] * 0.3), round(cell["x"] + cell["width"] * 0.7)
    y = round(cell["y"] + cell["height"] + 4)
    pixels = np.asarray(image.crop((x0, y - 1, x1, y + 2)), dtype=np.float64).reshape(-1, 3)
    return np.median(pixels, axis=0)


def minilm_metric(run: Path, column: str) -> dict[tuple[int, int], float]:
    table = av.open(run).metrics
    rows = zip(table["layer"], table["head"], table[column], strict=True)
    return {(int(layer), int(head)): float(value) for layer, head, value in rows}


def test_the_matrix_coloured_by_a_metric_shows_cells_in_its_order(page: App, atlas_runs: list[Path]) -> None:
    page.open("run=minilm&metric=previous")
    cells = page.page.evaluate("window.__attentionviz.cells()")
    assert len(cells) == 72
    image = page.screenshot("atlas-matrix-previous")
    values = minilm_metric(atlas_runs[1], "previous")
    seen = {(c["layer"], c["head"]): viridis_position(frame_colour(image, c)) for c in cells}
    keys = sorted(seen)
    shown = np.array([seen[k] for k in keys])
    truth = np.array([values[k] for k in keys])
    expected = (truth - truth.min()) / (truth.max() - truth.min())
    assert np.abs(shown - expected).max() < 0.08  # each frame sits where its value does on the scale
    assert max(seen, key=seen.get) == max(values, key=values.get) == (0, 2)
    assert page.page.get_by_test_id("metric-bar").is_visible()
    assert "metric=previous" in page.page.url
    assert not page.errors


def test_sorted_and_top_k_grids(page: App, atlas_runs: list[Path]) -> None:
    values = minilm_metric(atlas_runs[1], "previous")
    page.open("run=minilm&metric=previous&sort=1")
    cells = page.page.evaluate("window.__attentionviz.cells()")
    image = page.screenshot("atlas-matrix-sorted")
    for layer in range(6):
        row = sorted((c for c in cells if c["layer"] == layer), key=lambda c: c["x"])
        order = [values[(layer, c["head"])] for c in row]
        assert order == sorted(order, reverse=True), layer
        shades = [viridis_position(frame_colour(image, c)) for c in row]
        assert shades[0] >= shades[-1]
    page.act(lambda: page.page.get_by_test_id("metric-top-on").check())  # the top 20
    assert "top=20" in page.page.url
    top = page.page.evaluate("window.__attentionviz.cells()")
    assert len(top) == 20
    ranked = sorted(values, key=lambda k: (-values[k], k))[:20]
    reading = [(c["layer"], c["head"]) for c in sorted(top, key=lambda c: (round(c["y"]), c["x"]))]
    assert reading == ranked  # row by row, largest first
    image = page.screenshot("atlas-matrix-top20")
    assert all(ink(image, (c["x"], c["y"], c["x"] + c["width"], c["y"] + c["height"])) > 15 for c in top)
    assert page.page.locator(".avz-cell:not([hidden])").count() == 20
    # hovering a cell lists its metrics
    first = sorted(top, key=lambda c: (round(c["y"]), c["x"]))[0]
    page.page.mouse.move(first["x"] + first["width"] / 2, first["y"] + first["height"] / 2)
    tooltip = page.page.get_by_test_id("tooltip")
    tooltip.wait_for()
    assert (
        "L0 H2" in tooltip.text_content() and f"previous token {values[(0, 2)]:.3f}" in tooltip.text_content()
    )


def test_the_head_map_draws_one_point_per_head_and_a_click_opens_it(page: App) -> None:
    event = page.open("run=minilm&view=headmap&mapcolor=run")
    assert event["view"] == "headmap"
    points = page.page.get_by_test_id("map-point")
    assert points.count() == 2 * 3 + 72
    image = page.screenshot("atlas-headmap")
    box = page.page.get_by_test_id("headmap").bounding_box()
    crop = np.asarray(
        image.crop((box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"])), dtype=np.int16
    )
    blue = (np.abs(crop - np.array([78, 121, 167])).max(axis=2) < 20).sum()  # run 0's colour
    orange = (np.abs(crop - np.array([242, 142, 43])).max(axis=2) < 20).sum()  # run 1's
    assert blue > 50 and orange > 50
    target = page.page.locator("[data-testid=map-point][data-run=minilm][data-layer='3'][data-head='7']")
    target.hover()
    assert "minilm · L3 H7" in page.page.get_by_test_id("tooltip").text_content()
    event = page.act(lambda: target.click(force=True))
    assert event["view"] == "single"
    assert page.page.get_by_test_id("head-title").text_content() == "Layer 3 Head 7"
    assert "run=minilm" in page.page.url


def test_a_related_head_link_opens_its_head(page: App) -> None:
    page.open("run=minilm&view=single&layer=0&head=2&projection=pca")
    links = page.page.get_by_test_id("related-link")
    links.first.wait_for()
    assert links.count() == 5
    first = links.first
    run, layer, head = (first.get_attribute(k) for k in ("data-run", "data-layer", "data-head"))
    event = page.act(lambda: first.click())
    assert event["view"] == "single"
    assert page.page.get_by_test_id("head-title").text_content() == f"Layer {layer} Head {head}"
    assert f"run={run}" in page.page.url
    page.screenshot("atlas-related")


def test_keys_for_ninety_percent_colours_the_queries(page: App) -> None:
    page.open("run=minilm&view=single&layer=0&head=2&projection=pca&labels=0")
    before = np.asarray(page.screenshot("atlas-keys-before").crop(page.canvas_box()), dtype=np.int16)
    page.act(lambda: page.page.get_by_test_id("color").select_option("keys_needed"))
    after = np.asarray(page.screenshot("atlas-keys-needed").crop(page.canvas_box()), dtype=np.int16)
    assert (np.abs(after - before).max(axis=2) > 30).mean() > 0.001
    assert "90%" in page.page.get_by_test_id("legend").text_content()


def test_a_probe_opens_in_the_sentence_view(page: App, atlas_runs: list[Path]) -> None:
    page.open("run=valued&view=single&layer=1&head=0&projection=pca")
    page.act(lambda: page.page.get_by_test_id("show-probe").click())
    view = page.page.get_by_test_id("sentence-view")
    view.wait_for()
    assert "Probe 0" in view.text_content()
    probes = av.open(atlas_runs[0]).probes
    assert probes is not None
    assert page.page.get_by_test_id("sentence-graph").locator("text").count() >= probes.sequence_bounds(0)[1]
    page.screenshot("atlas-probe")
    assert not page.errors


def test_the_value_layout_sits_beside_the_joint_one_linked_token_by_token(page: App) -> None:
    page.open("run=valued&view=single&layer=0&head=1&projection=pca&labels=0")
    panel = page.page.get_by_test_id("value-panel")
    page.page.wait_for_selector("[data-testid=value-panel][data-drawn^='pca.2d|']")
    image = page.screenshot("atlas-values")
    box = page.page.get_by_test_id("value-canvas").bounding_box()
    assert ink(image, (box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"])) > 200
    # the token under the pointer in the value layout lights up in the joint one
    assert page.page.evaluate("window.__attentionviz.controller.single.hovered") is None
    page.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.page.wait_for_function("window.__attentionviz.controller.single.hovered !== null")
    token = page.page.evaluate(
        "(() => { const c = window.__attentionviz.controller; return c.data.order[c.single.hovered]; })()"
    )
    assert panel.get_attribute("data-drawn").endswith(f"|{token}")  # highlighted in the value layout too
    event = page.act(lambda: page.page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2))
    assert event["view"] == "single"
    page.page.get_by_test_id("sentence-view").wait_for()
    page.screenshot("atlas-values-selected")
