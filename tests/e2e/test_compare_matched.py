"""Compare mode over the induction toy (`tests/support/induction_checkpoints.py`) in Chromium: the two
checkpoints on either side of learning to copy, the Matrix View framed by drift with the heads
that learned a job at the top; and the trained checkpoint against a run of another model (a tiny
GPT-2), whose heads are matched by fingerprint: opening a head shows the other model's best matched
head beside it. Screenshots: test-output/e2e/compare-induction-*.png, compare-matched-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import attentionviz as av
from tests.e2e.conftest import App
from tests.support.induction_checkpoints import checkpoint_info, induction_checkpoints, roles
from tests.support.tiny_models import TEXT_MODELS

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, minilm: Any) -> Path:
    """series/step-<before>, series/step-<after> of the toy, and gpt2: a tiny random GPT-2 over the
    same lines (another architecture, another tokenizer)."""
    from transformers import AutoModelForCausalLM

    from attentionviz.toys import repeated_segments_text
    from attentionviz.toys.induction import tokenizer

    folder = tmp_path_factory.mktemp("matched")
    checkpoints = induction_checkpoints()
    info = checkpoint_info(checkpoints)
    corpus = repeated_segments_text(40)
    for name in ("before", "after"):
        model = AutoModelForCausalLM.from_pretrained(checkpoints / name)
        av.build_step(
            model, corpus, out=folder / "series", step=info[name], tokenizer=tokenizer(), max_tokens=2000
        )
    av.build(
        TEXT_MODELS["gpt2"](),
        corpus,
        out=folder / "gpt2",
        tokenizer=minilm.tokenizer,
        max_tokens=1000,
        layouts=("pca",),
        dims=(2,),
        workers=1,
    )
    return folder


@pytest.fixture(scope="module")
def url(runs: Path, browser: Any) -> Iterator[str]:
    from attentionviz.hosts.snapshot import served

    with served([runs / "series", runs / "gpt2"]) as address:
        yield address


@pytest.fixture
def page(browser: Any, url: str) -> Iterator[App]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    app = App(context.new_page(), url)
    yield app
    assert not app.errors, app.errors
    context.close()


def _steps(runs: Path) -> tuple[str, str]:
    info = checkpoint_info(induction_checkpoints())
    return f"step-{info['before']:08d}", f"step-{info['after']:08d}"


def test_the_checkpoints_matrix_view_lists_the_heads_that_learned_to_copy_as_most_changed(
    page: App, runs: Path
) -> None:
    before, after = _steps(runs)
    learned = roles(av.open(runs / "series" / after))
    page.open(f"run={after}&compare={before}")
    page.screenshot("compare-induction-matrix")
    items = page.page.get_by_test_id("most-changed").locator("li").all_text_contents()
    listed = {tuple(int(part[1:]) for part in item.split()[:2]) for item in items[: len(learned)]}
    assert listed == set(learned), (items, learned)
    layer, head = next(key for key, role in learned.items() if role == "induction")
    page.open(f"run={after}&compare={before}&view=single&layer={layer}&head={head}&projection=pca")
    page.screenshot("compare-induction-single")
    beside = page.page.evaluate("window.__attentionviz.controller.besideHead()")
    assert beside == {"run": before, "layer": layer, "head": head}, "checkpoints: the same head, aligned"


def test_another_models_best_matched_head_is_shown_beside_the_open_head(page: App, runs: Path) -> None:
    _, after = _steps(runs)
    table = av.compare(runs / "series" / after, runs / "gpt2").set_index(["layer", "head"])
    page.open(f"run={after}&compare=gpt2")
    assert "matched by fingerprint" in page.page.get_by_test_id("compare-info").text_content()
    best = page.page.get_by_test_id("best-matched").locator("li").first.text_content()
    layer, head = table["distance"].idxmin()
    assert best.startswith(f"L{layer} H{head}")
    page.screenshot("compare-matched-matrix")

    page.act(lambda: page.page.get_by_test_id("best-matched").locator("button").first.click())
    match = table.loc[(layer, head)]
    beside = page.page.evaluate("window.__attentionviz.controller.besideHead()")
    assert beside == {"run": "gpt2", "layer": int(match["match_layer"]), "head": int(match["match_head"])}
    listed = page.page.get_by_test_id("open-matches").text_content()
    for match_layer, match_head, distance in match["matches"]:
        assert f"L{match_layer} H{match_head} ({distance:.3f})" in listed
    page.screenshot("compare-matched-single")
