"""`attentionviz demo`'s background layouts, on a tiny synthetic run (no model): the app is told
which layouts are coming, so it keeps polling, and they land."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from attentionviz.hosts import demo
from attentionviz.hosts.server import create_app
from attentionviz.store import head_outputs
from tests.support.synthetic import make_synthetic_run

COMING = {"tsne.2d", "umap.2d", "umap.3d"}


def test_layouts_computed_in_the_background_are_listed_then_land(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTENTIONVIZ_CACHE", str(tmp_path / "cache"))
    layouts = (("pca", 2), ("pca", 3))
    run = make_synthetic_run(tmp_path / "runs" / "tiny", layers=1, heads=2, tokens=120, layouts=layouts)
    client = TestClient(create_app([tmp_path / "runs"], static_dir=None))
    assert set(client.get("/api/runs/tiny/layouts").json()) == {"pca.2d", "pca.3d"}

    process = demo.start_background_layouts(run.path)
    assert process is not None
    try:
        coming = client.get("/api/runs/tiny/layouts").json()
        assert set(coming) >= COMING  # listed (with the heads that have them so far) from the start
        assert process.wait(180) == 0
    finally:
        demo.stop_background(process)
    done = client.get("/api/runs/tiny/layouts").json()
    assert set(done) == COMING | {"pca.2d", "pca.3d"}
    assert all(heads == [0, 1] for heads in done.values())
    assert head_outputs.pending_layouts(run.path) == []
    assert demo.layouts_missing(run.path) == 0
    assert demo.start_background_layouts(run.path) is None  # nothing left to do
