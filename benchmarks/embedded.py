"""The embedded hosts: `export --single-file` (size, time to write, time from file:// to the Matrix
View) and the notebook widget's requests (answered in process by the server's routes).

    python benchmarks/embedded.py RUN                 # e.g. ~/.cache/attentionviz/runs/demo-minilm-wikipedia-2500
    python benchmarks/embedded.py RUN --layers 0-1    # a subset, as --layers/--heads on the command line

The single file is opened in Debian's headless Chromium (WebGL2 in software); "drawn" is the app's
render event for the complete Matrix View. Widget figures are Python-side: the time from a comm
message to the answer sent (what the kernel spends per request), over every head's layout frame.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from _shared import run_and_selection
from attentionviz.errors import AttentionVizError
from attentionviz.hosts.export.single_file import export_single_file
from attentionviz.hosts.snapshot import CHROMIUM_ARGS
from attentionviz.store.reader import Run


def single_file(run: Run, layers: list[int] | None, heads: list[int] | None, folder: Path) -> Path | None:
    out = folder / f"{run.path.name}.html"
    start = time.perf_counter()
    try:
        page = export_single_file(run.path, out, layers=layers, heads=heads)
    except AttentionVizError as exc:
        print(f"single file: refused ({exc})")
        return None
    print(
        f"single file: {page.heads} heads, {page.bytes / 1e6:.1f} MB ({page.data_bytes / 1e6:.1f} MB of data), "
        f"written in {time.perf_counter() - start:.1f} s"
    )
    return out


def open_from_disk(path: Path, repeats: int = 2) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for attempt in range(repeats):
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            start = time.perf_counter()
            page.goto(path.as_uri())
            page.wait_for_function("window.__attentionviz !== undefined", timeout=120_000)
            mounted = time.perf_counter() - start
            event = page.evaluate("window.__attentionviz.whenRendered()")
            drawn = time.perf_counter() - start
            error = page.evaluate("window.__attentionviz.error")
            print(
                f"file:// open #{attempt + 1}: app mounted {mounted:.2f} s, {event['view']} view drawn {drawn:.2f} s"
                + (f" (error: {error})" if error else "")
            )
            page.close()
        browser.close()


def widget_requests(run: Run) -> None:
    import attentionviz as av

    widget = av.Widget(run)
    sent: list[Any] = []
    widget.send = lambda content, buffers=None: sent.append((content, buffers))
    name = run.path.name
    paths = [f"api/runs/{name}", f"api/runs/{name}/tokens", f"api/runs/{name}/lod-order"]
    for layer in range(run.info.layers):
        for head in range(run.info.heads):
            key = next(iter(run.head(layer, head).layouts()), None)
            if key is not None:
                paths.append(f"api/runs/{name}/layers.{layer}.heads.{head}/{key[0]}.{key[1]}d?order=lod")
    times = []
    for i, path in enumerate(paths):
        start = time.perf_counter()
        widget._handle_custom_msg({"type": "avz:get", "id": i, "path": path}, [])
        times.append(time.perf_counter() - start)
    total = sum(len(buffers[0]) for _, buffers in sent)
    layout_ms = [1000 * t for t in times[3:]] or [0.0]
    print(
        f"widget: {len(paths)} requests, {total / 1e6:.1f} MB answered in {sum(times):.2f} s; "
        f"per layout frame median {statistics.median(layout_ms):.1f} ms, max {max(layout_ms):.1f} ms"
    )
    widget.close()


def main() -> None:
    run, layers, heads = run_and_selection(__doc__)
    print(
        f"{run.path.name}: {run.info.model}, {run.info.layers} x {run.info.heads} heads, {run.info.n_tokens} tokens"
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = single_file(run, layers, heads, Path(tmp))
        if path is not None:
            open_from_disk(path)
    widget_requests(run)


if __name__ == "__main__":
    main()
