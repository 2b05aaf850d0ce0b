"""`attentionviz demo` as a user runs it: a fresh cache, no network, the page draws the Matrix View."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.e2e.conftest import OUTPUT

pytestmark = pytest.mark.browser

URL = re.compile(r"attentionviz demo: \S+ at (http://\S+)")


def start_demo(cache: Path, *args: str) -> tuple[subprocess.Popen[str], str, list[str]]:
    """Start `attentionviz demo` on a free port; returns the process, its URL and its first lines."""
    env = {**os.environ, "ATTENTIONVIZ_CACHE": str(cache), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    command = [sys.executable, "-m", "attentionviz", "demo", "--no-open", "--port", "0", "--quiet", *args]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
    )
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip())
        found = URL.search(line)
        if found:
            return process, found.group(1), lines
    process.wait(10)
    raise AssertionError("demo exited without printing its URL:\n" + "\n".join(lines))


def stop(process: subprocess.Popen[str]) -> None:
    """Ctrl+C, as a user stops it: the server and everything it started end, cleanly."""
    os.killpg(process.pid, signal.SIGINT)
    try:
        assert process.wait(20) == 0
    finally:
        listing = subprocess.run(
            ["ps", "-o", "stat=,args=", "-g", str(process.pid)], capture_output=True, text=True
        ).stdout
        alive = [line for line in listing.splitlines() if line.strip() and not line.strip().startswith("Z")]
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert not alive, f"the demo left processes running after Ctrl+C: {alive}"


def processes_using(folder: Path) -> list[str]:
    """Command lines of live processes that name `folder` (the background embed names its run)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(folder) in args:
            found.append(args)
    return found


TSNE_HEADS = """() => {
  const option = document.querySelector('[data-testid="projection"] option[value="tsne"]');
  if (option.disabled) return 0;
  const count = option.textContent.match(/\\((\\d+)\\/\\d+ heads\\)/);
  return count ? Number(count[1]) : Infinity;
}"""  # how many heads the projection menu says have t-SNE


def drawn_cells(image: Any, cells: list[dict[str, Any]]) -> int:
    """Cells with points in them (pixels that stand out from the cell's flat background)."""
    count = 0
    for c in cells:
        box = (c["x"] + 2, c["y"] + 2, c["x"] + c["width"] - 2, c["y"] + c["height"] - 2)
        pixels = np.asarray(image.crop(tuple(round(v) for v in box)), dtype=np.int16)  # [h, w, 3]
        background = np.median(pixels.reshape(-1, 3), axis=0)
        count += int((np.abs(pixels - background).max(axis=2) > 40).sum()) >= 15
    return count


def test_demo_serves_a_matrix_view_from_a_cold_cache_then_starts_warm(browser: Any, tmp_path: Path) -> None:
    from PIL import Image

    cache = tmp_path / "cache"
    process, url, lines = start_demo(cache, "--tokens", "200")
    try:
        assert url.startswith("http://127.0.0.1:")
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(url)
        event = page.evaluate("window.__attentionviz.whenRendered()")
        assert event["view"] == "matrix"
        cells = page.evaluate("window.__attentionviz.cells()")
        assert len(cells) == 6 * 12  # MiniLM: 6 layers x 12 heads
        OUTPUT.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(OUTPUT / "demo-matrix.png"))
        image = Image.open(OUTPUT / "demo-matrix.png").convert("RGB")
        assert drawn_cells(image, cells) == len(cells)
        # t-SNE was still being computed: the page finds more of it without a reload
        at_load = page.evaluate(TSNE_HEADS)
        assert at_load < len(cells)
        page.wait_for_function(f"({TSNE_HEADS})() > {at_load}", timeout=120_000)
        assert not errors
        context.close()
    finally:
        stop(process)
    assert any("in the background" in line for line in lines)  # t-SNE/UMAP were still to come
    assert not processes_using(cache), "the background layouts outlived the demo"
    run = cache / "runs" / "demo-minilm-wikipedia-200"
    assert (run / "manifest.json").exists()

    # the second start reuses the cached run: no capture, straight to the URL
    process, url, _ = start_demo(cache, "--tokens", "200")
    stop(process)
    assert url.endswith("?run=demo-minilm-wikipedia-200")
