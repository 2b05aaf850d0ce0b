"""Figure export from the UI: the PNG button at a chosen resolution, the Sentence View as SVG."""

from __future__ import annotations

import math
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from attentionviz.store.reader import Run
from tests.e2e.conftest import OUTPUT

pytestmark = pytest.mark.browser

SVG = "{http://www.w3.org/2000/svg}"


def save(app: Any, testid: str) -> Path:
    with app.page.expect_download() as info:
        app.page.get_by_test_id(testid).click()
    path = Path(info.value.path())
    assert info.value.suggested_filename.startswith("attentionviz-minilm-")
    return path


def ink(image: Any) -> int:
    """Pixels that differ from the background (the picture's median colour)."""
    pixels = np.asarray(image.convert("RGB"), dtype=np.int16)  # [h, w, 3]
    background = np.median(pixels.reshape(-1, 3), axis=0)
    return int((np.abs(pixels - background).max(axis=2) > 40).sum())


def test_png_button_saves_the_view_at_the_chosen_scale(app: Any) -> None:
    app.open("run=minilm&view=single&layer=2&head=5&projection=pca&labels=0")
    box = app.page.locator("[data-testid=canvas]").bounding_box()
    images = {}
    for scale in (1, 4):
        app.page.get_by_test_id("png-scale").select_option(f"{scale}")
        path = save(app, "save-png")
        OUTPUT.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, OUTPUT / f"figure-single-{scale}x.png")
        images[scale] = Image.open(path).convert("RGB")
        assert images[scale].size == (math.floor(box["width"] * scale), math.floor(box["height"] * scale))
    assert ink(images[1]) > 300, "the PNG shows the points"
    # the 4x picture is the same picture, sharper: brought back to 1x it covers as much as the 1x one
    shrunk = images[4].resize(images[1].size, Image.Resampling.BOX)
    assert 0.6 < ink(shrunk) / ink(images[1]) < 1.6
    assert app.page.evaluate("window.__attentionviz.error") == ""


def test_svg_button_saves_the_sentence_view_with_its_tokens_and_lines(app: Any, minilm_run: Path) -> None:
    run = Run(minilm_run)
    start, length = run.sequence_bounds(2)
    app.open("run=minilm&view=single&layer=2&head=5&projection=pca&labels=0")
    assert app.page.get_by_test_id("save-svg").is_disabled()
    xy = app.page.evaluate(f"window.__attentionviz.controller.screenOf({start + 1})")
    app.act(lambda: app.page.mouse.click(xy[0], xy[1]))
    shown_lines = app.page.get_by_test_id("sentence-graph").locator("line").count()
    assert shown_lines > 0
    path = save(app, "save-svg")
    shutil.copy(path, OUTPUT / "figure-sentence.svg")
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg"
    texts = [t.text for t in root.iter(f"{SVG}text")]
    tokens = run.tokens["token"].astype(str).tolist()[start : start + length]
    assert texts[0].startswith("minilm · sequence 2 · layer 2 head 5")
    assert texts[1:] == [t for token in tokens for t in (token, token)]  # each token as query and key
    lines = list(root.iter(f"{SVG}line"))
    assert len(lines) == shown_lines
    assert all(float(line.get("x2")) > float(line.get("x1")) for line in lines)
    assert "stroke" in lines[0].get("style", "") and "fill" in list(root.iter(f"{SVG}text"))[1].get(
        "style", ""
    )
