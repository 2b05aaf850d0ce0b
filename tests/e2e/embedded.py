"""Checks shared by the embedded hosts' browser tests (the notebook widget, the single-file export)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from attentionviz.store.reader import Run
from tests.e2e.conftest import OUTPUT


def image_run_shown(page: Any, run: Run, name: str) -> str:
    """An image run's Single View draws patch thumbnails, and a clicked patch's Image View shows its
    image; returns the image's href (where the host got it from)."""
    page.evaluate("window.__attentionviz.whenRendered()")
    assert page.evaluate("window.__attentionviz.error") == ""
    OUTPUT.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{name}.png"))
    box = page.locator("[data-testid=canvas]").bounding_box()
    shot = Image.open(OUTPUT / f"{name}.png").convert("RGB")
    x0, y0 = int(box["x"]), int(box["y"])
    pixels = np.asarray(shot.crop((x0, y0, x0 + int(box["width"]), y0 + int(box["height"]))), dtype=np.int16)
    # digit patches are grey levels: many dark, near-neutral pixels ([h, w, 3])
    neutral = np.abs(pixels - pixels.mean(axis=2, keepdims=True)).max(axis=2) < 12
    assert (neutral & (pixels.mean(axis=2) < 90)).sum() > 1500, "the points are patch thumbnails"

    start, _ = run.sequence_bounds(3)
    xy = page.evaluate(f"window.__attentionviz.controller.screenOf({start + 5})")
    page.evaluate("window.__attentionviz.renders.length = 0")
    page.mouse.click(xy[0], xy[1])
    page.wait_for_function("window.__attentionviz.renders.length > 0")
    page.wait_for_function("document.querySelector('[data-testid=image-svg] image').getBBox().width > 0")
    href: str | None = page.locator("[data-testid=image-svg] image").get_attribute("href")
    assert href is not None
    return href
