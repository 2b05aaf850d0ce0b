"""The head atlas in the other hosts: a static export (files only) and the notebook widget carry
the metric colouring, the head map and related heads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

import attentionviz as av
from attentionviz.cli import main
from attentionviz.readmodel.frames import decode
from tests.e2e.conftest import OUTPUT
from tests.e2e.test_export import exported_and_served
from tests.e2e.test_widget import open_widget

pytestmark = pytest.mark.browser


def test_the_export_writes_the_atlas_files(minilm_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    result = CliRunner().invoke(
        main, ["export", str(minilm_run), "-o", str(out), "--layers", "0", "--heads", "2,3"]
    )
    assert result.exit_code == 0, result.output
    api = out / "api"
    meta, arrays = decode((api / "runs/minilm/metrics").read_bytes())
    assert "induction" in meta["columns"] and arrays["values"].shape == (72, len(meta["columns"]))
    assert np.isfinite(arrays["values"][2]).any() and np.isnan(arrays["values"][4]).all()  # heads left out
    for method in ("umap", "pca"):
        meta, arrays = decode((api / "headmap" / method).read_bytes())
        assert meta["n"] == 2 and sorted(arrays["head"].tolist()) == [2, 3]
    head = api / "runs/minilm/layers.0.heads.2"
    assert (head / "related").is_file() and (head / "keys-needed").is_file() and (head / "probes/0").is_file()
    assert (api / "runs/minilm/probes/tokens").is_file() and (api / "runs/minilm/probes/sequences").is_file()
    assert not (api / "runs/minilm/layers.0.heads.4").exists()


def test_the_exported_site_shows_the_metric_colouring_and_the_head_map(
    browser: Any, minilm_run: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    run = av.open(minilm_run)
    with exported_and_served(minilm_run, tmp_path_factory.mktemp("atlas-site") / "minilm") as url:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        try:
            page.goto(f"{url}?run=minilm&metric=previous&top=5")
            page.evaluate("window.__attentionviz.whenRendered()")
            cells = page.evaluate("window.__attentionviz.cells()")
            top = run.metrics.sort_values("previous", ascending=False).head(5)
            assert {(c["layer"], c["head"]) for c in cells} == set(
                zip(top["layer"], top["head"], strict=True)
            )
            OUTPUT.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(OUTPUT / "export-atlas-top5.png"))
            page.goto(f"{url}?run=minilm&view=headmap")
            assert page.evaluate("window.__attentionviz.whenRendered()")["view"] == "headmap"
            assert page.get_by_test_id("map-point").count() == 72
            page.screenshot(path=str(OUTPUT / "export-atlas-headmap.png"))
            page.goto(f"{url}?run=minilm&view=single&layer=0&head=2&projection=pca")
            page.evaluate("window.__attentionviz.whenRendered()")
            page.get_by_test_id("related-link").first.wait_for()
            assert page.get_by_test_id("related-link").count() == 5
            assert not errors
        finally:
            context.close()


def test_the_widget_shows_the_head_map_and_syncs_the_metric(browser: Any, minilm_run: Path) -> None:
    widget = av.Widget(minilm_run, view="headmap")
    context, page, errors = open_widget(browser, widget)
    try:
        assert page.evaluate("window.__attentionviz.whenRendered()")["view"] == "headmap"
        assert page.get_by_test_id("map-point").count() == 72
        page.screenshot(path=str(OUTPUT / "widget-headmap.png"))
        synced = page.evaluate("window.__synced")
        page.locator("[data-testid=map-point][data-layer='2'][data-head='5']").click(force=True)
        page.wait_for_function(f"window.__synced > {synced}")
        assert (widget.view, widget.layer, widget.head) == ("single", 2, 5)
        # Python picks a metric (the kernel forwards it): the Matrix View is coloured by it
        widget.view, widget.metric = "matrix", "previous"
        page.evaluate("window.__attentionviz.renders.length = 0")
        page.evaluate("changes => window.__shim.update(changes)", {"view": "matrix", "metric": "previous"})
        page.wait_for_function("window.__attentionviz.renders.length > 0")
        page.evaluate("window.__attentionviz.whenRendered()")
        assert page.locator(".avz-cell.metric").count() == 72
        assert page.get_by_test_id("metric").input_value() == "previous"
        assert not errors
    finally:
        context.close()
        widget.close()
