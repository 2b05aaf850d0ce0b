"""Browser tier: a real uvicorn on 127.0.0.1 (a free port) and Debian's Chromium driven by Playwright.

Chromium runs headless without a GPU (WebGL2 in software). Tests wait on the app's render event
(`window.__attentionviz.whenRendered()`), never on sleeps, and leave screenshots in
`test-output/e2e/` for review.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from attentionviz.hosts.snapshot import CHROMIUM_ARGS
from tests.support.synthetic import make_synthetic_run

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "src" / "attentionviz" / "hosts" / "static"
CHROMIUM = Path("/usr/bin/chromium")
OUTPUT = ROOT / "test-output" / "e2e"

pytestmark = pytest.mark.browser


def _frontend_built() -> bool:
    """Build the frontend once if it is missing and npm is here; False if it cannot be had."""
    if (STATIC / "index.html").exists():
        return True
    npm = shutil.which("npm")
    if npm is None:
        return False
    frontend = ROOT / "frontend"
    if not (frontend / "node_modules").exists():
        subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=frontend, check=True)
    subprocess.run([npm, "run", "build"], cwd=frontend, check=True)
    return (STATIC / "index.html").exists()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    playwright_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    if not _frontend_built():
        pytest.skip("the frontend is not built and npm is not available")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


DEEP_TSNE_HEADS = 2  # of the deep run's 270: the rest have PCA only, as SmolLM2's demo while it embeds
DEEP_UNTRANSLATED = ((3, 4), (17, 2))


@pytest.fixture(scope="session")
def e2e_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of synthetic runs: "synthetic" (3 layers x 4 heads), and "deep" (SmolLM2's 30 x 9
    heads, t-SNE for two of them so far, two heads whose keys the automatic rule left untranslated)."""
    folder = tmp_path_factory.mktemp("e2e-runs")
    make_synthetic_run(
        folder / "synthetic",
        layers=3,
        heads=4,
        tokens=400,
        layouts=(("tsne", 2), ("pca", 2), ("pca", 3)),
        seed=3,
    )
    make_synthetic_run(
        folder / "deep",
        layers=30,
        heads=9,
        tokens=60,
        head_dim=4,
        layouts=(("tsne", 2), ("pca", 2)),
        metrics=False,
        untranslated=DEEP_UNTRANSLATED,
        seed=6,
    )
    for path in sorted((folder / "deep" / "heads").glob("*/tsne.2d.*")):
        layer, head = (int(part) for part in path.parent.name.split(".")[1::2])
        if layer * 9 + head >= DEEP_TSNE_HEADS:
            path.unlink()
    return folder


@pytest.fixture(scope="session")
def server(e2e_runs: Path, minilm_run: Path) -> Iterator[str]:
    """The app over the synthetic runs and the real MiniLM run, on a free loopback port."""
    from attentionviz.hosts.snapshot import served

    with served([e2e_runs / "synthetic", e2e_runs / "deep", minilm_run]) as url:
        yield url


class App:
    """A page of the app, with the waits and pixel checks the tests share."""

    def __init__(self, page: Any, base: str) -> None:
        self.page = page
        self.base = base
        self.errors: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("console", lambda message: message.type == "error" and self.errors.append(message.text))

    def open(self, query: str) -> dict[str, Any]:
        self.page.goto(f"{self.base}?{query}")
        return self.rendered()

    def rendered(self) -> dict[str, Any]:
        """Wait for the app's render event (a finished picture, or an error shown)."""
        event: dict[str, Any] = self.page.evaluate("window.__attentionviz.whenRendered()")
        return event

    def act(self, action: Any) -> dict[str, Any]:
        """Run `action` (which changes the picture) and wait for the next render event."""
        self.page.evaluate("window.__attentionviz.renders.length = 0")
        action()
        self.page.wait_for_function("window.__attentionviz.renders.length > 0")
        return self.rendered()

    def screenshot(self, name: str) -> Any:
        from PIL import Image

        OUTPUT.mkdir(parents=True, exist_ok=True)
        path = OUTPUT / f"{name}.png"
        self.page.screenshot(path=str(path))
        return Image.open(path).convert("RGB")

    def canvas_box(self) -> tuple[int, int, int, int]:
        box = self.page.locator("[data-testid=canvas]").bounding_box()
        return int(box["x"]), int(box["y"]), int(box["x"] + box["width"]), int(box["y"] + box["height"])


@pytest.fixture
def app(browser: Any, server: str) -> Iterator[App]:
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    wrapper = App(page, server)
    yield wrapper
    context.close()
