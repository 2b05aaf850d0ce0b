"""A cold run in the browser (issue 16.1): the Matrix View is complete with coarse layouts before the
full ones land, and when they land each cell's points barely move (the rows a cell draws are the
coarse layout's sample, and the full layout is refined from it), while an open Single View swaps
its head's full layout in. Screenshots: test-output/e2e/coarse-*.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from attentionviz.embed import coarse
from attentionviz.embed.pipeline import embed_quick, embed_run
from attentionviz.embed.plan import plan_layouts
from attentionviz.store import head_outputs
from tests.e2e.conftest import OUTPUT
from tests.e2e.test_demo import drawn_cells
from tests.support.synthetic import make_synthetic_run

pytestmark = pytest.mark.browser

LAYERS, HEADS = 2, 3
REFINED = "window.__attentionviz.controller.data && Object.keys(window.__attentionviz.controller.data.details.coarse).length === 0 && window.__attentionviz.state === 'rendered'"


def cell_points(page: Any, layer: int, head: int) -> tuple[np.ndarray, float]:
    found = page.evaluate(f"window.__attentionviz.cellPoints({layer}, {head})")
    return np.asarray(found["positions"], dtype=np.float64).reshape(-1, 2), float(found["cell"])


def test_a_cold_run_draws_coarse_cells_first_then_refines_them_in_place(browser: Any, tmp_path: Path) -> None:
    from PIL import Image

    from attentionviz.hosts.snapshot import served

    run = make_synthetic_run(
        tmp_path / "cold", layers=LAYERS, heads=HEADS, tokens=coarse.COARSE_ROWS + 200, layouts=(), seed=9
    )
    embed_quick(run.path)  # PCA, as the demo makes before it serves
    embed_run(run.path, layouts=("tsne",), dims=(2,), workers=2, refine=False)  # every head coarse
    head_outputs.write_pending(run.path, list(plan_layouts(("tsne",), (2,))))  # an embed is running
    with served([run.path]) as base:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        matrix, single = context.new_page(), context.new_page()
        errors: list[str] = []
        for page in (matrix, single):
            page.on("pageerror", lambda error: errors.append(str(error)))
        matrix.goto(f"{base}?run=cold&projection=tsne")
        assert matrix.evaluate("window.__attentionviz.whenRendered()")["view"] == "matrix"
        single.goto(f"{base}?run=cold&projection=tsne&view=single&layer=1&head=2")
        assert single.evaluate("window.__attentionviz.whenRendered()")["view"] == "single"
        assert not single.evaluate(
            "window.__attentionviz.controller.single.details.layout_meta['tsne.2d'].refined_from"
        )

        cells = matrix.evaluate("window.__attentionviz.cells()")
        assert len(cells) == LAYERS * HEADS
        OUTPUT.mkdir(parents=True, exist_ok=True)
        matrix.screenshot(path=str(OUTPUT / "coarse-before.png"))
        assert drawn_cells(Image.open(OUTPUT / "coarse-before.png").convert("RGB"), cells) == len(cells)
        coarse_heads = matrix.evaluate("window.__attentionviz.controller.data.details.coarse['tsne.2d']")
        assert coarse_heads == list(range(LAYERS * HEADS))  # complete, and every cell still coarse
        before = {(c["layer"], c["head"]): cell_points(matrix, c["layer"], c["head"]) for c in cells}

        embed_run(run.path, layouts=("tsne",), dims=(2,), workers=2)  # the full layouts land
        head_outputs.clear_pending(run.path)
        matrix.wait_for_function(REFINED, timeout=60_000)
        single.wait_for_function(REFINED, timeout=60_000)
        matrix.screenshot(path=str(OUTPUT / "coarse-after.png"))
        single.screenshot(path=str(OUTPUT / "coarse-single-after.png"))
        assert drawn_cells(Image.open(OUTPUT / "coarse-after.png").convert("RGB"), cells) == len(cells)
        for (layer, head), (points, size) in before.items():
            after, _ = cell_points(matrix, layer, head)
            assert after.shape == points.shape and not np.allclose(after, points)
            moved = np.linalg.norm(after - points, axis=1).mean() / size
            assert moved < 0.05, f"layer {layer} head {head}: sample points moved {moved:.1%} of the cell"
        assert single.evaluate(
            "window.__attentionviz.controller.single.details.layout_meta['tsne.2d'].refined_from"
        )
        assert not errors
        context.close()
