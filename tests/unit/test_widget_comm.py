"""The notebook widget's Python side, without a browser: requests over the comm get the server's
own answers, traits are checked, the selection is a DataFrame. (The bundle in Chromium: tests/e2e/test_widget.py.)"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from attentionviz.errors import AttentionVizError
from attentionviz.hosts.server import create_app
from tests.support.synthetic import make_synthetic_run

pytest.importorskip("anywidget")


@pytest.fixture(scope="module")
def run_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("widget") / "tiny"
    make_synthetic_run(path, layers=2, heads=3, tokens=60, layouts=(("tsne", 2), ("pca", 2)), seed=4)
    return path


def ask(widget: Any, *paths: str) -> list[tuple[dict[str, Any], bytes]]:
    """Send the frontend's requests; collect the widget's answers (content, body)."""
    sent: list[tuple[dict[str, Any], bytes]] = []
    widget.send = lambda content, buffers=None: sent.append((content, bytes(buffers[0])))
    for i, path in enumerate(paths):
        widget._handle_custom_msg({"type": "avz:get", "id": i, "path": path}, [])
    return sent


def test_requests_get_the_servers_own_bytes(run_path: Path) -> None:
    import attentionviz as av

    widget = av.Widget(run_path)
    server = TestClient(create_app([run_path], static_dir=None))
    paths = [
        "api/runs/tiny",
        "api/runs/tiny/tokens",
        "api/runs/tiny/layers.1.heads.2/pca.2d?order=lod&limit=20",
        "api/runs/tiny/layers.0.heads.1/norms?order=lod",
    ]
    try:
        answers = ask(widget, *paths)
        assert [content["id"] for content, _ in answers] == [0, 1, 2, 3]
        for (content, body), path in zip(answers, paths, strict=True):
            expected = server.get("/" + path)
            assert content["status"] == 200
            assert content["content_type"] == expected.headers["content-type"]
            assert body == expected.content
    finally:
        widget.close()


def test_a_bad_request_is_answered_with_its_error(run_path: Path) -> None:
    import attentionviz as av

    widget = av.Widget(run_path)
    try:
        [(missing, body), (outside, _)] = ask(widget, "api/runs/nope", "../etc/passwd")
        assert missing["status"] == 404 and "no run named" in json.loads(body)["detail"]
        assert outside["status"] == 404
    finally:
        widget.close()


def test_traits_are_checked_and_the_view_follows_layer_and_head(run_path: Path) -> None:
    import attentionviz as av

    assert av.Widget(run_path).view == "matrix"
    widget = av.Widget(run_path, layer=1, head=2, projection="pca")
    assert (widget.view, widget.layer, widget.head, widget.projection) == ("single", 1, 2, "pca")
    with pytest.raises(AttentionVizError, match="layer 2 is out of range"):
        widget.layer = 2
    with pytest.raises(AttentionVizError, match="projection must be one of"):
        widget.projection = "mds"
    with pytest.raises(AttentionVizError, match="theme must be one of"):
        widget.theme = "sepia"
    with pytest.raises(AttentionVizError, match="view must be one of"):
        av.Widget(run_path, view="grid")
    assert widget.layer == 1


def test_selection_is_a_dataframe_of_the_selected_tokens(run_path: Path) -> None:
    import attentionviz as av

    widget = av.Widget(run_path, layer=0, head=1)
    assert widget.selection.empty
    assert list(widget.selection.columns) == ["sequence", "position", "token", "kind", "layer", "head"]
    seen: list[int] = []
    widget.on_select(lambda selection: seen.append(len(selection)))
    row = {"sequence": 2, "position": 1, "token": "cat", "kind": "query", "layer": 0, "head": 1}
    widget.set_state({"_selection": [row]})  # what the frontend sends after a click
    assert widget.selection.to_dict("records") == [row]
    widget.set_state({"_selection": []})
    assert seen == [1, 0]
