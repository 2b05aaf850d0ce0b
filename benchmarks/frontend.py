"""Web app figures: bytes per head on the wire, and time to the Matrix View's first complete paint.

    python benchmarks/frontend.py            # 144 heads x 10k points, and 1,024 heads x 10k points
    python benchmarks/frontend.py --quick    # 144 heads only

Synthetic runs (tests.support.synthetic), a real uvicorn on 127.0.0.1, Debian's headless
Chromium (WebGL2 in software, no GPU). "Preview" is the first frame in which every cell shows its
small LOD preview (the `attentionviz:matrix-preview` mark); "complete paint" is the app's render
event: every cell that has a layout drawn at the level of detail the point budget allows, submitted.
Software WebGL rasterises after submission, in the GPU process: "rasterised by" is when a 1-pixel
read returns, i.e. when that picture is really there (the honest figure for large point counts).
Targets (issue 4): <= 5% of the original's 1.48 MB JSON per head; <= 3 s for 144 heads.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from attentionviz.hosts.snapshot import CHROMIUM_ARGS

GPU_DONE = """() => {
  const gl = window.__attentionviz.controller.canvas.deck.device.gl;
  gl.readPixels(0, 0, 1, 1, gl.RGBA, gl.UNSIGNED_BYTE, new Uint8Array(4));
  return performance.now();
}"""
ORIGINAL_BYTES = 1.48e6  # the original's byLayerHead JSON per head, 10,042 points (2D coords + norm)


def wire_bytes(folder: Path) -> None:
    from fastapi.testclient import TestClient

    import _shared  # noqa: F401  (the repo root on sys.path)
    from attentionviz.hosts.server import create_app
    from tests.support.synthetic import make_synthetic_run

    run = make_synthetic_run(
        folder / "one", layers=1, heads=12, tokens=5000, layouts=(("tsne", 2),), metrics=False
    )
    client = TestClient(create_app([run.path], static_dir=None))
    body = client.get("/api/runs/one/layers.0.heads.0/tsne.2d").content
    norms = client.get("/api/runs/one/layers.0.heads.0/norms").content
    layer = client.get("/api/runs/one/layers.0/tsne.2d").content
    coords = np.asarray(run.head(0, 0).layout("tsne", 2))
    as_json = json.dumps({"tokens": [{"tsne_x": float(x), "tsne_y": float(y)} for x, y in coords]}).encode()
    print(f"one head, one 2D layout, {len(coords):,} points")
    print(
        f"  original-style JSON, this layout only: {len(as_json):>9,} B ({len(gzip.compress(as_json)):,} B gzipped)"
    )
    print(f"  original JSON per head (paper repo):   {ORIGINAL_BYTES:>9,.0f} B")
    for name, data, heads in (
        ("layout frame (uint16)", body, 1),
        ("norms frame (uint16)", norms, 1),
        ("layer frame / 12 heads", layer, 12),
    ):
        raw, zipped = len(data) / heads, len(gzip.compress(data, 6)) / heads
        print(
            f"  {name:<22} {raw:>9,.0f} B raw, {zipped:,.0f} B gzipped = {100 * zipped / ORIGINAL_BYTES:.2f}% of 1.48 MB"
        )


def serve(folder: Path) -> tuple[str, Any]:
    import uvicorn

    from attentionviz.hosts.server import bind, create_app, url_of

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(create_app([folder]), log_level="warning", access_log=False))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    return url_of(sock), server


def paint(browser: Any, url: str, label: str, *, repeat: int) -> None:
    """Best of `repeat` page loads (and the first): the preview paint, the complete paint, one zoom step."""
    figures = []
    for _ in range(repeat):
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        start = time.perf_counter()
        page.goto(url)
        page.evaluate("window.__attentionviz.whenRendered()")
        wall = time.perf_counter() - start
        # software WebGL rasterises in the GPU process after the frame is submitted: a 1-pixel read
        # waits until it is done, i.e. until the complete paint is really on screen
        gpu_done = page.evaluate(GPU_DONE) / 1000
        marks = dict(page.evaluate("performance.getEntriesByType('mark').map(e => [e.name, e.startTime])"))
        requests = page.evaluate(
            "performance.getEntriesByType('resource').filter(e => e.name.includes('/api/')).length"
        )
        lod = page.evaluate("document.querySelector('[data-testid=lod-note]')?.textContent ?? 'every point'")
        # one zoom step on the loaded matrix: until the cells in view are drawn with their larger share
        page.mouse.move(700, 400)
        page.evaluate("window.__attentionviz.renders.length = 0")
        t = time.perf_counter()
        page.mouse.wheel(0, -120)
        page.wait_for_function("window.__attentionviz.renders.length > 0")
        step = time.perf_counter() - t
        complete = marks.get("attentionviz:matrix-rendered", float("nan")) / 1000
        preview = marks.get("attentionviz:matrix-preview", float("nan")) / 1000
        figures.append((complete, preview, gpu_done, wall, step, requests, lod.strip()))
        context.close()
    cold = figures[0]  # the server's first answers for this run: its layout cache still empty
    complete, preview, gpu_done, wall, step, requests, lod = min(figures)
    print(
        f"  {label}: every cell's LOD preview {preview:.2f} s, first complete paint {complete:.2f} s "
        f"after navigation, rasterised by {gpu_done:.2f} s (wall {wall:.2f} s; {requests} API requests; "
        f"load average {os.getloadavg()[0]:.1f}), "
        f"zoom step to its refined paint {step * 1000:.0f} ms; first load (cold server) {cold[1]:.2f} / "
        f"{cold[0]:.2f} / {cold[2]:.2f} s; {lod}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the 1,024-head run")
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    import _shared  # noqa: F401  (the repo root on sys.path)
    from tests.support.synthetic import make_synthetic_run

    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wire_bytes(folder / "bytes")
        runs = folder / "runs"
        sizes = [(12, 12)] if args.quick else [(12, 12), (32, 32)]
        for layers, heads in sizes:
            t = time.perf_counter()
            make_synthetic_run(
                runs / f"r{layers}x{heads}",
                layers=layers,
                heads=heads,
                tokens=5000,
                head_dim=4,
                seq_len=(6, 10),
                layouts=(("tsne", 2),),
                metrics=False,
            )
            print(
                f"synthetic run {layers}x{heads} heads x 10,000 points written in {time.perf_counter() - t:.1f} s"
            )
        base, server = serve(runs)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            print("Matrix View in headless Chromium (software WebGL2), 1280x800:")
            paint(browser, f"{base}?run=r12x12", "144 heads x 10k points, default budget", repeat=args.repeat)
            paint(
                browser,
                f"{base}?run=r12x12&budget=2000000",
                "144 heads x 10k points, every point",
                repeat=args.repeat,
            )
            if not args.quick:
                paint(
                    browser,
                    f"{base}?run=r32x32",
                    "1,024 heads x 10k points, default budget",
                    repeat=args.repeat,
                )
            browser.close()
        server.should_exit = True


if __name__ == "__main__":
    main()
