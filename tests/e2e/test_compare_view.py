"""Compare mode and scrubbing in Chromium, over a training series of a tiny GPT-2 (three steps):
two runs' heads side by side with linked search, hover and selection; the Matrix View framed by
drift; a token followed over the frames of a scrubbing animation; the same in an export and in the
notebook widget. Screenshots go to test-output/e2e/compare-*.png and scrub-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attentionviz.store.reader import Run
from tests.e2e.conftest import App
from tests.support.training import train_series

pytestmark = pytest.mark.browser

LATE, EARLY, MIDDLE = "step-00000020", "step-00000000", "step-00000010"
QUERY_HIT = (84, 148, 61)
KEY_HIT = (193, 91, 125)
HOVER = (255, 195, 0)


@pytest.fixture(scope="module")
def series(tmp_path_factory: pytest.TempPathFactory, minilm: Any, sentences: list[str]) -> Path:
    """A tiny GPT-2 trained on the test sentences, a run (PCA) at steps 0, 10 and 20."""
    out = tmp_path_factory.mktemp("series") / "series"
    return train_series(out, minilm.tokenizer, sentences, steps=(0, 10, 20), layouts=("pca",), dims=(2,))


@pytest.fixture(scope="module")
def series_url(series: Path, browser: Any) -> Iterator[str]:
    from attentionviz.hosts.snapshot import served

    with served([series]) as url:
        yield url


@pytest.fixture
def page(browser: Any, series_url: str) -> Iterator[App]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    app = App(context.new_page(), series_url)
    yield app
    assert not app.errors, app.errors
    context.close()


def near(
    image: Any, xy: list[float], color: tuple[int, int, int], radius: int = 4, tolerance: int = 45
) -> bool:
    """Whether a pixel within `radius` of `xy` has `color` (each channel within `tolerance`)."""
    x, y = round(xy[0]), round(xy[1])
    box = np.asarray(image.crop((x - radius, y - radius, x + radius + 1, y + radius + 1)), dtype=np.int16)
    return bool((np.abs(box - np.asarray(color)).max(axis=2) <= tolerance).any())


def screen(app: App, row: int, other: bool = False) -> list[float]:
    xy = app.page.evaluate(f"window.__attentionviz.controller.screenOf({row}, {str(other).lower()})")
    assert xy is not None, f"row {row} is not drawn ({'B' if other else 'A'})"
    return list(xy)


def next_frame(app: App) -> None:
    app.page.evaluate("window.__attentionviz.controller.canvas.drawn()")


def test_compare_mode_shows_both_heads_side_by_side_with_linked_search_hover_and_selection(
    page: App, series: Path
) -> None:
    run = Run(series / LATE)
    hits = np.flatnonzero(run.tokens["token"].str.lower() == "the")
    assert len(hits) >= 2
    page.open(f"run={LATE}&compare={EARLY}&view=single&layer=0&head=0&projection=pca&search=the&labels=0")
    assert page.page.get_by_test_id("error").count() == 0
    row = int(hits[0])
    a, b = screen(page, row), screen(page, row, other=True)
    left, top, right, bottom = page.canvas_box()
    assert left < a[0] < b[0] < right and top < a[1] < bottom and top < b[1] < bottom
    image = page.screenshot("compare-single-search")
    for token in hits[:4]:  # the search lights the same tokens in both runs' heads
        for other in (False, True):
            assert near(image, screen(page, int(token), other), QUERY_HIT), (token, other)
            assert near(image, screen(page, run.info.n_tokens + int(token), other), KEY_HIT), (token, other)
    assert "aligned" in page.page.locator(".avz-label.caption").all_text_contents()[1]

    # hovering a token of A rings the same token of B
    page.page.mouse.move(a[0], a[1])
    page.page.wait_for_function(
        "window.__attentionviz.controller.canvas.deck.props.layers.some(l => l.id === 'compare-linked')"
    )
    next_frame(page)
    assert near(page.screenshot("compare-single-hover"), b, HOVER, radius=6)
    page.page.mouse.move(left + 2, bottom - 2)

    # selecting it shows its sequence's attention in both runs, each in its own Sentence View
    page.act(lambda: page.page.mouse.click(a[0], a[1]))
    mine, theirs = page.page.get_by_test_id("sentence-view"), page.page.get_by_test_id("sentence-view-other")
    mine.wait_for()
    theirs.wait_for()
    sequence = int(run.tokens["sequence"].iloc[row])
    assert f"Sequence {sequence}" in mine.text_content() and f"Sequence {sequence}" in theirs.text_content()
    assert EARLY in theirs.text_content()
    layers = page.page.evaluate("window.__attentionviz.controller.canvas.deck.props.layers.map(l => l.id)")
    assert "selection-lines" in layers and "compare-selection-lines" in layers
    page.screenshot("compare-single-selection")


def test_the_matrix_view_frames_each_head_by_its_drift(page: App, series: Path) -> None:
    page.open(f"run={LATE}&compare={EARLY}")
    drift = {
        (h["layer"], h["head"]): h["drift"]
        for h in page.page.evaluate(f"fetch('api/runs/{LATE}/compare/{EARLY}').then(r => r.json())")["heads"]
    }
    image = page.screenshot("compare-matrix")
    darkness = {}
    for cell in page.page.evaluate("window.__attentionviz.cells()"):
        frame = image.getpixel((round(cell["x"] + 1), round(cell["y"] + cell["height"] / 2)))
        darkness[(cell["layer"], cell["head"])] = -sum(frame)
    heads = sorted(drift)
    ranks = [np.argsort(np.argsort([values[h] for h in heads])) for values in (drift, darkness)]
    assert np.corrcoef(*ranks)[0, 1] > 0.9, (drift, darkness)
    assert max(darkness, key=darkness.__getitem__) == max(drift, key=drift.__getitem__)
    top = page.page.get_by_test_id("most-changed").locator("li").first.text_content()
    layer, head = max(drift, key=drift.__getitem__)
    assert top.startswith(f"L{layer} H{head}")


def _follow(page: App, row: int, action: Any) -> list[list[float]]:
    """Screen positions of layout row `row` in every animation frame while `action` runs."""
    page.page.evaluate(
        f"""window.__samples = []; window.__poll = true;
        const poll = () => {{ window.__samples.push(window.__attentionviz.controller.screenOf({row}));
                              if (window.__poll) requestAnimationFrame(poll); }};
        requestAnimationFrame(poll);"""
    )
    page.act(action)
    samples: list[list[float]] = page.page.evaluate("window.__poll = false; window.__samples")
    return [s for s in samples if s is not None]


def assert_moves_continuously(start: list[float], samples: list[list[float]], end: list[float]) -> None:
    """A straight, steady path from `start` to `end` through at least three frames in between."""
    a, b = np.asarray(start), np.asarray(end)
    total = float(np.linalg.norm(b - a))
    assert total > 20, "the token moved on screen"
    points = np.asarray(samples)
    along = (points - a) @ (b - a) / total**2  # 0 at the start, 1 at the end
    between = points[(along > 0.01) & (along < 0.99)]
    assert len(between) >= 3, f"only {len(between)} frames between the two layouts"
    assert np.all(np.diff(along) >= -1e-6), "it never moves backwards"
    assert np.abs(np.diff(np.concatenate([[0.0], along, [1.0]]))).max() < 0.6, "no jump"
    off_line = np.abs(np.cross(b - a, points - a)) / total
    assert off_line.max() < 2, "it keeps to the line between its two places"
    assert np.allclose(points[-1], b, atol=0.5)


def test_scrubbing_through_layers_moves_each_token_continuously(page: App, series: Path) -> None:
    page.open(f"run={LATE}&view=single&layer=0&head=1&projection=pca&scrub=layers&labels=0")
    assert page.page.get_by_test_id("scrub-label").text_content() == "layer 0 of 2"
    row = 7
    start = screen(page, row)
    page.screenshot("scrub-layers-0")
    samples = _follow(page, row, lambda: page.page.keyboard.press("]"))
    assert page.page.get_by_test_id("head-title").text_content() == "Layer 1 Head 1"
    assert_moves_continuously(start, samples, screen(page, row))
    page.screenshot("scrub-layers-1")
    # the slider goes back: the token returns to where it was
    samples = _follow(page, row, lambda: page.page.get_by_test_id("scrub-slider").fill("0"))
    assert np.allclose(screen(page, row), start, atol=0.5)
    assert page.page.get_by_test_id("head-title").text_content() == "Layer 0 Head 1"


def test_scrubbing_through_training_steps_in_the_single_and_matrix_views(page: App, series: Path) -> None:
    page.open(f"run={EARLY}&view=single&layer=1&head=2&projection=pca&scrub=steps&labels=0")
    row = Run(series / EARLY).info.n_tokens + 3  # a key
    start = screen(page, row)
    samples = _follow(page, row, lambda: page.page.get_by_test_id("scrub-next").click())
    assert page.page.get_by_test_id("run-select").input_value() == MIDDLE
    assert_moves_continuously(start, samples, screen(page, row))
    page.screenshot("scrub-steps-single")

    page.act(lambda: page.page.get_by_test_id("view-all").click())
    info = page.page.get_by_test_id("compare-info")
    info.wait_for()
    assert f"drift against {EARLY}" in info.text_content()
    tinted = page.page.locator(".avz-cell[data-tint]").count()
    assert tinted == 8
    page.act(lambda: page.page.keyboard.press("]"))
    page.page.wait_for_function(
        f"document.querySelector('[data-testid=compare-info]')?.textContent.includes('{MIDDLE}')"
    )
    assert page.page.get_by_test_id("run-select").input_value() == LATE
    page.screenshot("scrub-steps-matrix")


def test_an_export_of_the_series_carries_compare_mode_and_scrubbing(
    browser: Any, series: Path, tmp_path: Path
) -> None:
    from tests.e2e.test_export import exported_and_served

    with exported_and_served(series, tmp_path / "site") as url:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        app = App(context.new_page(), url)
        try:
            app.open(f"run={LATE}&compare={EARLY}&view=single&layer=1&head=0&projection=pca&labels=0")
            assert screen(app, 4, other=True)[0] > screen(app, 4)[0]
            app.screenshot("compare-export")
            app.open(f"run={LATE}&view=single&layer=0&head=0&projection=pca&scrub=heads&labels=0")
            start = screen(app, 4)
            samples = _follow(app, 4, lambda: app.page.keyboard.press("]"))
            assert_moves_continuously(start, samples, screen(app, 4))
            assert not app.errors, app.errors
        finally:
            context.close()


def test_the_widget_carries_compare_mode_and_scrubbing(browser: Any, series: Path) -> None:
    import attentionviz as av
    from tests.e2e.test_widget import open_widget

    widget = av.Widget(series / LATE, compare=series / EARLY, layer=0, head=3, projection="pca")
    assert (widget.run_id, widget.compare) == (LATE, EARLY)
    context, page, errors = open_widget(browser, widget)
    try:
        assert page.evaluate("window.__attentionviz.whenRendered()")["view"] == "single"
        app = App(page, "")
        assert screen(app, 2, other=True)[0] > screen(app, 2)[0]
        # Python turns compare mode off and the scrubber on: the view follows
        widget.compare, widget.scrub = "", "layers"
        page.evaluate("window.__attentionviz.renders.length = 0")
        page.evaluate("changes => window.__shim.update(changes)", {"compare": "", "scrub": "layers"})
        page.wait_for_function("window.__attentionviz.renders.length > 0")
        page.get_by_test_id("scrubber").wait_for()
        assert page.evaluate("window.__attentionviz.controller.screenOf(2, true)") is None
        synced = page.evaluate("window.__synced")
        page.locator(".avz-embed").focus()
        page.keyboard.press("]")
        page.wait_for_function(f"window.__synced > {synced}")
        assert widget.layer == 1
        assert not errors
    finally:
        context.close()
        widget.close()
