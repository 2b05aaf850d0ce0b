"""`attentionviz export`: the static site, served by `python -m http.server`'s handler, in Chromium."""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from attentionviz.cli import main
from attentionviz.store.reader import Run
from tests.e2e.conftest import OUTPUT, App

pytestmark = pytest.mark.browser


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def site(minilm_run: Path, tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[str]:
    """The MiniLM run exported whole, served from a plain static file server on a free port."""
    with exported_and_served(minilm_run, tmp_path_factory.mktemp("site") / "minilm") as url:
        yield url


def ink(image: Any, box: tuple[float, float, float, float]) -> int:
    x0, y0, x1, y1 = (round(v) for v in box)
    pixels = np.asarray(image.crop((x0 + 2, y0 + 2, x1 - 2, y1 - 2)), dtype=np.int16)  # [h, w, 3]
    background = np.median(pixels.reshape(-1, 3), axis=0)
    return int((np.abs(pixels - background).max(axis=2) > 40).sum())


def test_exported_site_shows_the_matrix_and_single_views(browser: Any, site: str, minilm_run: Path) -> None:
    from PIL import Image

    run = Run(minilm_run)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    OUTPUT.mkdir(parents=True, exist_ok=True)
    try:
        page.goto(f"{site}?run=minilm")
        event = page.evaluate("window.__attentionviz.whenRendered()")
        assert event["view"] == "matrix"
        cells = page.evaluate("window.__attentionviz.cells()")
        assert len(cells) == run.info.layers * run.info.heads
        page.screenshot(path=str(OUTPUT / "export-matrix.png"))
        image = Image.open(OUTPUT / "export-matrix.png").convert("RGB")
        empty = [
            c for c in cells if ink(image, (c["x"], c["y"], c["x"] + c["width"], c["y"] + c["height"])) < 15
        ]
        assert not empty

        page.goto(f"{site}?run=minilm&view=single&layer=1&head=2&projection=tsne")
        event = page.evaluate("window.__attentionviz.whenRendered()")
        assert event["view"] == "single"
        assert page.get_by_test_id("head-title").text_content() == "Layer 1 Head 2"
        page.screenshot(path=str(OUTPUT / "export-single.png"))
        image = Image.open(OUTPUT / "export-single.png").convert("RGB")
        box = page.locator("[data-testid=canvas]").bounding_box()
        assert ink(image, (box["x"], box["y"], box["x"] + box["width"], box["y"] + box["height"])) > 500
        assert not errors
    finally:
        context.close()


def test_export_subset_keeps_only_the_chosen_heads_and_layouts(minilm_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "subset"
    args = ["export", str(minilm_run), "-o", str(out), "--layers", "1", "--heads", "0-1", "--layouts", "pca"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    base = out / "api" / "runs" / "minilm"
    details = json.loads((base / "index.html").read_text())
    heads = Run(minilm_run).info.heads
    assert set(details["layouts"]) == {"pca.2d", "pca.3d"}
    assert all(rows == [heads, heads + 1] for rows in details["layouts"].values())
    exported = sorted(p.name for p in base.glob("layers.*"))
    assert exported == ["layers.1", "layers.1.heads.0", "layers.1.heads.1"]  # layers.1: the Matrix View's
    assert sorted(p.name for p in (base / "layers.1").iterdir()) == ["norms", "pca.2d"]
    assert not list(base.rglob("tsne.*"))
    again = CliRunner().invoke(main, args)  # a non-empty folder is not overwritten silently
    assert again.exit_code != 0 and "--overwrite" in again.output


@contextlib.contextmanager
def served_statically(folder: Path) -> Iterator[str]:
    """`folder` behind Python's plain static file server (no API) on a free port."""
    handler = functools.partial(QuietHandler, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()


@contextlib.contextmanager
def exported_and_served(run: Path, out: Path) -> Iterator[str]:
    """`attentionviz export RUN -o OUT`, then OUT behind the plain static file server."""
    result = CliRunner().invoke(main, ["export", str(run), "-o", str(out)])
    assert result.exit_code == 0, result.output
    with served_statically(out) as url:
        yield url


@pytest.fixture(scope="module")
def image_site(digits_run: Path, tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[str]:
    """The digits ViT run exported whole (its images and patch atlas too), served statically."""
    with exported_and_served(digits_run, tmp_path_factory.mktemp("site") / "digits") as url:
        yield url


def test_exported_site_shows_the_sentence_view_with_lines(browser: Any, site: str, minilm_run: Path) -> None:
    from tests.e2e.test_sentence_view import click_token, line_opacities

    run = Run(minilm_run)
    layer, head, sequence = 2, 5, 1
    start, length = run.sequence_bounds(sequence)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    app = App(context.new_page(), site)
    try:
        app.open(f"run=minilm&view=single&layer={layer}&head={head}&projection=pca&labels=0")
        click_token(app, start + 2)
        shown = (
            app.page.get_by_test_id("sentence-graph").locator("[data-testid=query-token]").all_text_contents()
        )
        assert shown == run.tokens["token"].astype(str).tolist()[start : start + length]
        attention = run.head(layer, head).attention(sequence)
        lines = line_opacities(app, "sentence-graph")
        assert int((attention >= 0.05 + 1e-5).sum()) <= len(lines) <= int((attention >= 0.05 - 1e-5).sum())
        assert app.page.locator("[data-testid=aggregate-graph] line").count() > 0
        assert app.page.get_by_test_id("value-weight").is_enabled(), "value norms reach the exported page"
        app.screenshot("export-sentence-view")
        assert not app.errors
    finally:
        context.close()


def test_exported_image_run_shows_the_image_view_heatmap(
    browser: Any, image_site: str, digits_run: Path
) -> None:
    from tests.e2e.test_image_view import contrasted_patch, heat, image_svg, open_patch, patch_rows, tile

    run = Run(digits_run)
    layer, head = 1, 2
    sequence, position = contrasted_patch(run, layer, head)  # where this model's attention varies most
    _, length, rows, cols = patch_rows(run, sequence)
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    app = App(context.new_page(), image_site)
    try:
        open_patch(app, run, layer, head, sequence, position)
        svg = image_svg(app, "export-image-view")
        attention = run.head(layer, head).attention(sequence)[position]
        patches = sorted((q for q in range(length) if rows[q] >= 0), key=lambda q: attention[q])
        assert heat(tile(svg, rows, cols, patches[-1])) > heat(tile(svg, rows, cols, patches[0])) + 40, (
            "the heatmap colours most where the patch attends most"
        )
        assert f"{attention[0]:.3f}" in app.page.get_by_test_id("attention-to-cls").text_content()
        assert not app.errors
    finally:
        context.close()


def test_export_writes_each_chosen_heads_attention_value_norms_and_aggregate(
    minilm_run: Path, tmp_path: Path
) -> None:
    from attentionviz.readmodel.frames import decode

    out = tmp_path / "details"
    result = CliRunner().invoke(
        main, ["export", str(minilm_run), "-o", str(out), "--layers", "2", "--heads", "5"]
    )
    assert result.exit_code == 0, result.output
    run = Run(minilm_run)
    base = out / "api" / "runs" / "minilm"
    folder = base / "layers.2.heads.5"
    head = run.head(2, 5)
    for seq in range(run.info.n_sequences):
        start, length = run.sequence_bounds(seq)
        _, arrays = decode((folder / "attention" / str(seq)).read_bytes())
        expected = head.attention(seq)  # written quantised: within 1e-5
        np.testing.assert_allclose(arrays["attention"].reshape(expected.shape), expected, atol=1e-5)
        # the value norms travel in the attention frame (one file per sequence, not two)
        np.testing.assert_allclose(
            arrays["value_norms"], head.value_norms()[start : start + length], rtol=1e-6
        )
    _, arrays = decode((folder / "aggregate").read_bytes())
    longest = int(run.sequences["n_tokens"].max())
    total, count = np.zeros((longest, longest)), np.zeros((longest, longest))  # [L, L]
    for seq in range(run.info.n_sequences):
        n = run.sequence_bounds(seq)[1]
        total[:n, :n] += head.attention(seq)
        count[:n, :n] += 1
    np.testing.assert_allclose(arrays["attention"], total / count, atol=1e-6)  # over the sequences with both
    assert not (base / "layers.2.heads.4").exists() and not (folder / "value-norms").exists()
    assert not (base / "images").exists() and not (base / "patches.png").exists(), "a text run has no images"
