"""The Sentence View of a 1,000-token sequence: only the token rows in view are drawn, each visible
query's top-k lines, and the attention arrives a window of query rows at a time as it scrolls into
view, never as one [1000, 1000] matrix."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest

from tests.support.synthetic import make_synthetic_run

pytestmark = pytest.mark.browser

N = 1000
ROW = 17  # the Sentence View's row height


@pytest.fixture(scope="module")
def long_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    from attentionviz.hosts.snapshot import served

    run = tmp_path_factory.mktemp("long") / "long"
    make_synthetic_run(run, layers=1, heads=2, tokens=N, seq_len=(N, N), layouts=(("pca", 2),), seed=5)
    with served([run]) as url:
        yield url, run


def test_a_1000_token_sentence_view_draws_what_is_in_view_and_fetches_rows_as_it_scrolls(
    browser: Any, long_server: tuple[str, Path]
) -> None:
    import attentionviz as av
    from tests.e2e.conftest import App

    url, path = long_server
    run = av.open(path)
    assert run.sequence_bounds(0) == (0, N)
    attention = run.head(0, 1).attention(0)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    app = App(context.new_page(), url)
    requests: list[dict[str, list[str]]] = []
    app.page.on(
        "request",
        lambda r: "/attention/" in r.url and requests.append(parse_qs(urlparse(r.url).query)),
    )
    try:
        app.open("run=long&view=single&layer=0&head=1&projection=pca&labels=0")
        position = 500
        xy = app.page.evaluate(f"window.__attentionviz.controller.screenOf({position})")
        app.act(lambda: app.page.mouse.click(xy[0], xy[1]))
        graph = app.page.get_by_test_id("sentence-graph")
        queries = graph.locator("[data-testid=query-token]")
        assert 20 < queries.count() < 150, "only the rows in view (and a margin) are drawn"
        shown = [int(float(y)) for y in queries.evaluate_all("els => els.map(e => e.getAttribute('y'))")]
        assert min(shown) <= position * ROW <= max(shown), "the clicked token is in view"
        assert requests and all(int(r["limit"][0]) <= 64 for r in requests), (
            "windows of rows, never all of them"
        )
        k = int(app.page.get_by_test_id("top-k").input_value())
        lines = graph.locator("line").evaluate_all(
            "els => els.map(e => [Number(e.getAttribute('y1')), Number(e.getAttribute('y2'))])"
        )
        drawn = {(round((y1 - ROW / 2) / ROW), round((y2 - ROW / 2) / ROW)) for y1, y2 in lines}
        assert drawn, "the visible queries draw lines"
        for query in {q for q, _ in drawn}:
            keys = {key for q, key in drawn if q == query}
            assert len(keys) <= k
            best = [int(j) for j in np.argsort(-attention[query])[: len(keys)]]
            assert keys == set(best), f"query {query}: its heaviest keys"
        app.screenshot("long-sequence-middle")

        before = len(requests)
        box = app.page.get_by_test_id("sentence-graph-box")
        app.act(lambda: box.evaluate("el => { el.scrollTop = el.scrollHeight; }"))
        app.page.wait_for_function(
            "document.querySelectorAll('[data-testid=sentence-graph] [data-testid=query-token]').length > 0"
        )
        shown = [int(float(y)) for y in queries.evaluate_all("els => els.map(e => e.getAttribute('y'))")]
        assert max(shown) >= (N - 1) * ROW, "scrolled to the end, the last tokens are drawn"
        assert len(requests) > before, "the rows scrolled into view were fetched"
        assert all(int(r["limit"][0]) <= 64 for r in requests)
        last = graph.locator("line").evaluate_all("els => els.map(e => Number(e.getAttribute('y1')))")
        assert any(y >= (N - 60) * ROW for y in last), "the rows fetched on scrolling draw their lines"
        app.screenshot("long-sequence-end")
        assert not app.errors
    finally:
        context.close()
