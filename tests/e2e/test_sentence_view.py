"""Clicking a point selects its sequence: the Sentence View shows its tokens and attention lines,
the scatterplot draws lines, and hiding a key changes both."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attentionviz.store.reader import Run

pytestmark = pytest.mark.browser

LAYER, HEAD, SEQUENCE = 2, 5, 1


def click_token(app: Any, row: int) -> dict[str, Any]:
    xy = app.page.evaluate(f"window.__attentionviz.controller.screenOf({row})")
    assert xy is not None, f"row {row} is not drawn"
    return app.act(lambda: app.page.mouse.click(xy[0], xy[1]))


def line_opacities(app: Any, testid: str) -> list[float]:
    return app.page.eval_on_selector_all(
        f"[data-testid={testid}] line", "lines => lines.map(l => Number(l.getAttribute('stroke-opacity')))"
    )


def test_clicking_a_point_shows_its_sentence_and_hiding_a_key_changes_the_lines(
    app: Any, minilm_run: Path
) -> None:
    run = Run(minilm_run)
    start, length = run.sequence_bounds(SEQUENCE)
    app.open(f"run=minilm&view=single&layer={LAYER}&head={HEAD}&projection=pca&labels=0")
    before = app.screenshot("sentence-before-click")
    click_token(app, start + 2)  # the query copy of the sequence's third token
    panel = app.page.get_by_test_id("sentence-view")
    assert panel.is_visible()
    expected_tokens = run.tokens["token"].astype(str).tolist()[start : start + length]
    shown = app.page.get_by_test_id("sentence-graph").locator("[data-testid=query-token]").all_text_contents()
    assert shown == expected_tokens
    lines = line_opacities(app, "sentence-graph")
    attention = run.head(LAYER, HEAD).attention(SEQUENCE)
    # one line per query-key pair at or above the threshold (renormalising in float32 may move a tie)
    assert int((attention >= 0.05 + 1e-5).sum()) <= len(lines) <= int((attention >= 0.05 - 1e-5).sum())
    assert app.page.get_by_test_id("aggregate-graph").is_visible()
    selected = app.screenshot("sentence-selected")
    x0, y0, x1, y1 = app.canvas_box()
    changed = np.abs(
        np.asarray(selected.crop((x0, y0, x1 - 340, y1)), dtype=np.int16)
        - np.asarray(before.crop((x0, y0, x1 - 340, y1)), dtype=np.int16)
    ).max(axis=2)
    assert (changed > 40).sum() > 2000, "the selection fades the rest and draws lines in the scatterplot"

    # hide the key most attended to: its column disappears and the rows renormalise
    top_key = int(attention.sum(axis=0).argmax())
    app.act(
        lambda: (
            app.page.get_by_test_id("sentence-graph").locator("[data-testid=key-token]").nth(top_key).click()
        )
    )
    hidden_lines = line_opacities(app, "sentence-graph")
    assert hidden_lines != lines
    assert (
        app.page.eval_on_selector_all(
            "[data-testid=sentence-graph] line",
            f"lines => lines.filter(l => Number(l.getAttribute('y2')) === {top_key} * 17 + 8.5).length",
        )
        == 0
    )
    after_hide = app.screenshot("sentence-key-hidden")
    scatter_changed = np.abs(
        np.asarray(after_hide.crop((x0, y0, x1 - 340, y1)), dtype=np.int16)
        - np.asarray(selected.crop((x0, y0, x1 - 340, y1)), dtype=np.int16)
    ).max(axis=2)
    assert (scatter_changed > 30).sum() > 20, "the scatterplot's lines follow the Sentence View's edits"

    app.act(lambda: app.page.get_by_test_id("reset-edits").click())
    assert line_opacities(app, "sentence-graph") == lines
    app.act(lambda: app.page.get_by_test_id("selection-clear").click())
    assert not app.page.get_by_test_id("sentence-view").is_visible()
    assert not app.errors


@pytest.mark.parametrize(("name", "width", "height"), [("wide", 1280, 800), ("narrow", 820, 760)])
def test_the_sentence_view_sits_beside_or_below_the_scatterplot_not_over_it(
    browser: Any, server: str, minilm_run: Path, name: str, width: int, height: int
) -> None:
    from tests.e2e.conftest import App

    run = Run(minilm_run)
    start, length = run.sequence_bounds(SEQUENCE)
    context = browser.new_context(viewport={"width": width, "height": height})
    app = App(context.new_page(), server)
    try:
        app.open(f"run=minilm&view=single&layer={LAYER}&head={HEAD}&projection=pca&labels=0")
        click_token(app, start + 2)
        image = app.screenshot(f"sentence-layout-{name}")
        panel = app.page.get_by_test_id("sentence-view").bounding_box()
        x0, y0, x1, y1 = app.canvas_box()
        if name == "wide":
            assert panel["x"] >= x1 - 1 and panel["height"] > 0.8 * (y1 - y0), (
                "the panel is beside the scatterplot"
            )
        else:
            assert panel["y"] >= y1 - 1 and panel["width"] > 0.9 * (x1 - x0), (
                "the panel is below the scatterplot"
            )
        assert min(x1 - x0, y1 - y0) > 250
        # every token of the selected sentence, query and key, is drawn inside the (uncovered) canvas
        for row in [
            *range(start, start + length),
            *range(run.info.n_tokens + start, run.info.n_tokens + start + length),
        ]:
            x, y = app.page.evaluate(f"window.__attentionviz.controller.screenOf({row})")
            assert x0 <= x <= x1 and y0 <= y <= y1, f"row {row} lies outside the scatterplot"
        pixels = np.asarray(image.crop((x0, y0, x1, y1)), dtype=np.int16)
        assert (np.abs(pixels - np.median(pixels.reshape(-1, 3), axis=0)).max(axis=2) > 40).sum() > 500
        assert app.page.locator("[data-testid=sentence-graph] line").count() > 0
        assert not app.errors
    finally:
        context.close()


def test_after_a_click_the_sentence_is_labelled_position_token_and_other_labels_fade(
    app: Any, minilm_run: Path
) -> None:
    run = Run(minilm_run)
    start, length = run.sequence_bounds(SEQUENCE)
    tokens = run.tokens["token"].astype(str).tolist()[start : start + length]
    expected = {f"{p}:{token}" for p, token in enumerate(tokens)}
    for labels in (1, 0):
        app.open(f"run=minilm&view=single&layer={LAYER}&head={HEAD}&projection=pca&labels={labels}")
        click_token(app, start + 2)
        selected = app.page.locator(".avz-label.selected").all_text_contents()
        assert selected and set(selected) <= expected, selected
        assert len(set(selected)) >= length // 2, "most of the sentence's tokens are labelled"
        others = app.page.locator(".avz-label:not(.selected)")
        if labels:
            assert others.count() > 0 and others.count() == app.page.locator(".avz-label.faded").count()
            opacity = float(others.first.evaluate("el => getComputedStyle(el).opacity"))
            assert opacity < 0.4, "other sentences' labels fade"
            app.screenshot("sentence-labels-selected-and-faded")
        else:
            assert others.count() == 0, "labels off: only the selected sentence is labelled"
            app.screenshot("sentence-labels-selected-only")
        app.act(lambda: app.page.get_by_test_id("selection-clear").click())
        assert app.page.locator(".avz-label.selected").count() == 0
    assert not app.errors


def test_hovering_a_token_lights_its_counterparts_on_the_other_side(app: Any, minilm_run: Path) -> None:
    run = Run(minilm_run)
    start, _ = run.sequence_bounds(SEQUENCE)
    attention = run.head(LAYER, HEAD).attention(SEQUENCE)  # [len, len], rows: queries
    app.open(f"run=minilm&view=single&layer={LAYER}&head={HEAD}&projection=pca&labels=0")
    click_token(app, start + 2)
    graph = app.page.get_by_test_id("sentence-graph")
    assert graph.locator("[data-testid=key-glow]").count() == 0
    query = int(attention[:, 1:].max(axis=1).argmax())  # a query whose attention is not all on [CLS]
    graph.locator("[data-testid=query-token]").nth(query).hover()
    glows = graph.locator("[data-testid=key-glow]")
    glows.first.wait_for()
    lit = glows.evaluate_all(
        "els => els.map(e => [Number(e.getAttribute('y')), Number(e.getAttribute('fill-opacity'))])"
    )
    brightest = max(lit, key=lambda item: item[1])
    assert round((brightest[0] - 1) / 17) == int(attention[query].argmax()), (
        "the key it attends to most is lit most"
    )
    for y, opacity in lit:
        key = round((y - 1) / 17)
        assert opacity == pytest.approx(0.75 * attention[query, key] / attention.max(), abs=2e-3)
    app.screenshot("sentence-hover-query")
    key = 3
    graph.locator("[data-testid=key-token]").nth(key).hover()
    lit = graph.locator("[data-testid=query-glow]").evaluate_all(
        "els => els.map(e => [Number(e.getAttribute('y')), Number(e.getAttribute('fill-opacity'))])"
    )
    assert lit and round((max(lit, key=lambda item: item[1])[0] - 1) / 17) == int(attention[:, key].argmax())
    assert not app.errors


def test_scaling_each_row_draws_every_querys_strongest_key_fully(app: Any, minilm_run: Path) -> None:
    run = Run(minilm_run)
    start, _ = run.sequence_bounds(SEQUENCE)
    attention = run.head(LAYER, HEAD).attention(SEQUENCE)
    app.open(f"run=minilm&view=single&layer={LAYER}&head={HEAD}&projection=pca&labels=0")
    click_token(app, start + 2)
    app.act(lambda: app.page.get_by_test_id("per-row").check())
    lines = app.page.eval_on_selector_all(
        "[data-testid=sentence-graph] line",
        "ls => ls.map(l => [Number(l.getAttribute('y1')), Number(l.getAttribute('y2')), Number(l.getAttribute('stroke-opacity'))])",
    )
    assert lines
    for y1, y2, opacity in lines:
        query, key = round((y1 - 8.5) / 17), round((y2 - 8.5) / 17)
        assert opacity == pytest.approx(attention[query, key] / attention[query].max(), abs=2e-3)
    strongest = {}
    for y1, _, opacity in lines:
        strongest[y1] = max(strongest.get(y1, 0.0), opacity)
    assert all(value == pytest.approx(1.0) for value in strongest.values())
    app.screenshot("sentence-per-row")
    assert not app.errors


def test_the_sentence_panel_follows_the_dark_theme(app: Any, minilm_run: Path) -> None:
    start, _ = Run(minilm_run).sequence_bounds(SEQUENCE)
    app.open(f"run=minilm&view=single&layer={LAYER}&head={HEAD}&projection=pca&labels=0&theme=dark")
    click_token(app, start + 2)
    image = app.screenshot("sentence-dark")
    box = app.page.get_by_test_id("sentence-view").bounding_box()
    panel = np.asarray(
        image.crop(
            (int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), int(box["y"] + box["height"]))
        )
    )
    assert np.median(panel.reshape(-1, 3), axis=0).max() < 60, "a dark panel"
    text = app.page.get_by_test_id("sentence-graph").locator("[data-testid=query-token]").first
    fill = text.evaluate("el => getComputedStyle(el).fill")
    assert sum(int(v) for v in fill[fill.index("(") + 1 : -1].split(",")[:3]) > 300, "light text on it"
