"""What a new user finds without reading the manual: an About/help panel (the views, the paper, the
keys), a tooltip on every sidebar control, and a 3D control that says why it is off."""

from __future__ import annotations

from typing import Any

import pytest

pytestmark = pytest.mark.browser


def test_the_help_panel_explains_the_views_the_paper_and_the_keyboard(app: Any) -> None:
    app.open("run=minilm")
    assert app.page.get_by_test_id("help").count() == 0
    app.page.get_by_test_id("help-open").click()
    panel = app.page.get_by_test_id("help")
    panel.wait_for()
    text = panel.text_content()
    for view in ("Matrix View", "Single View", "Sentence View", "Aggregate View", "Image View"):
        assert view in text
    assert panel.locator("a[href='https://arxiv.org/abs/2305.03210']").count() == 1
    keys = panel.get_by_test_id("help-shortcuts").text_content()
    assert "?" in keys and "Esc" in keys and "←" in keys
    app.screenshot("help-panel")
    app.page.keyboard.press("Escape")
    assert app.page.get_by_test_id("help").count() == 0
    app.page.locator("[data-testid=canvas]").click(position={"x": 3, "y": 3})
    app.page.keyboard.press("?")  # the key opens it too
    panel.wait_for()
    app.page.get_by_test_id("help-close").click()
    assert app.page.get_by_test_id("help").count() == 0
    app.page.keyboard.press("/")
    assert app.page.evaluate("document.activeElement.dataset.testid") == "search"
    assert not app.errors


@pytest.mark.parametrize("view", ["matrix", "single"])
def test_every_sidebar_control_says_what_it_does(app: Any, view: str) -> None:
    app.open(f"run=minilm&view={view}&layer=1&head=1&projection=pca")
    untitled = app.page.evaluate(
        """[...document.querySelectorAll('aside input, aside select, aside button, header input, header select, header button')]
           .filter(el => !el.closest('[title]') || !el.closest('[title]').title.trim())
           .map(el => el.dataset.testid || el.outerHTML.slice(0, 80))"""
    )
    assert not untitled, f"controls without a tooltip: {untitled}"


def test_the_3d_control_says_why_3d_tsne_is_off_and_how_to_make_it(app: Any) -> None:
    app.open("run=minilm&projection=tsne")  # built with t-SNE in 2D only: 3D t-SNE is made on request
    assert app.page.get_by_test_id("dim-3").is_disabled()
    reason = app.page.get_by_test_id("dim-3-label").get_attribute("title")
    assert "only when asked for" in reason and "attentionviz embed RUN --layouts tsne.3d" in reason
    assert "tsne.3d" in app.page.get_by_test_id("dim-note").text_content()
    app.screenshot("dim-3-disabled-note")
    app.act(lambda: app.page.get_by_test_id("projection").select_option("pca"))
    assert app.page.get_by_test_id("dim-3").is_enabled()
    assert app.page.get_by_test_id("dim-note").count() == 0
