"""`attentionviz demo`: time from the command to the first complete Matrix View, cold and warm.

    python benchmarks/demo.py                 # MiniLM, 2,500 tokens (the demo's default)
    python benchmarks/demo.py --tokens 500    # a smaller sample
    python benchmarks/demo.py --model smollm2
    python benchmarks/demo.py --model smollm2 --coarse-only   # not waiting for every full layout
    python benchmarks/demo.py --images        # the digits ViT

Cold: an empty cache folder ($ATTENTIONVIZ_CACHE, which `cache_root()` reads): capture, PCA of
every head, server start, page load; the digits ViT is trained into that cache too (`--images`).
Then, while the background embed runs: the time until every head has its coarse t-SNE and a page
opened on t-SNE draws the whole Matrix View with it, and the time until every layout of every
head is at full resolution (polling the run's details as the app does). Warm: the same command
again on that cache (after stopping the first one, so the background process starts again).
"Complete" is the app's render event after every cell of the Matrix View is drawn. Each phase is
timed from the demo's own log lines (`-v`) as they arrive. The browser is Debian's headless
Chromium (WebGL2 in software). Targets: cold <= 30 s to the PCA Matrix View (issue 6); to the
complete coarse t-SNE Matrix View <= 20 s for MiniLM, <= 60 s for SmolLM2 (issue 16), on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from attentionviz.hosts.snapshot import CHROMIUM_ARGS

URL = re.compile(r"attentionviz demo: \S+ at (http://\S+)")
PHASES = {  # a line of the demo's log -> the phase that ends when it is printed
    "demo: started": "python and the CLI imported",
    "demo: loaded": "model loaded, corpus planned, tokens captured",
    "demo: captured": "digits ViT ready, images captured",
    "demo: PCA layouts": "PCA layouts of every head",
    "attentionviz demo: ": "server listening",
}


def time_demo(
    browser: Any, cache: Path, args: list[str], *, follow: bool = False, full: bool = True
) -> tuple[list[tuple[str, float]], float, str]:
    """([(phase, seconds since the command) as the demo logs them, then the background's phases
    when `follow`], seconds to the complete Matrix View, view and projection drawn)."""
    env = {**os.environ, "ATTENTIONVIZ_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    command = [
        sys.executable,
        "-m",
        "attentionviz",
        "-v",
        "demo",
        "--no-open",
        "--port",
        "0",
        "--quiet",
        *args,
    ]
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
    )
    try:
        assert process.stdout is not None
        url = ""
        phases: list[tuple[str, float]] = []
        lines: list[str] = []
        for line in process.stdout:
            lines.append(line)
            phase = next((name for key, name in PHASES.items() if key in line), None)
            if phase:
                phases.append((phase, time.perf_counter() - start))
            found = URL.search(line)
            if found:
                url = found.group(1)
                break
        if not url:
            raise SystemExit("the demo exited without printing its URL:\n" + "".join(lines[-20:]))
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(url)
        event = page.evaluate("window.__attentionviz.whenRendered()")
        complete = time.perf_counter() - start
        projection = page.get_by_test_id("projection").input_value()
        context.close()
        if follow:
            phases += background_phases(browser, url, start, full=full)
        return phases, complete, f"{event['view']} view, {projection}"
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(30)


def background_phases(browser: Any, url: str, start: float, *, full: bool = True) -> list[tuple[str, float]]:
    """While the background embed runs: when every head has a (coarse) t-SNE and a page opened on
    t-SNE has drawn them all, and (`full`) when every layout is at full resolution."""
    run = url.split("?run=")[1]
    api = url.split("?")[0].rstrip("/") + f"/api/runs/{run}"
    phases = []

    def details() -> dict[str, Any]:
        with urllib.request.urlopen(api) as answer:
            return dict(json.load(answer))

    heads = details()["layers"] * details()["heads"]
    while len(details()["layouts"].get("tsne.2d", [])) < heads:
        time.sleep(0.25)
    phases.append(("every head's coarse t-SNE stored", time.perf_counter() - start))
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{url}&projection=tsne")
    page.evaluate("window.__attentionviz.whenRendered()")
    drawn = page.get_by_test_id("projection").input_value()
    context.close()
    phases.append((f"page drew the complete coarse Matrix View ({drawn})", time.perf_counter() - start))
    while full:
        now = details()
        if not now["coarse"] and all(len(h) == heads for h in now["layouts"].values()):
            break
        time.sleep(1.0)
    if full:
        phases.append(("every layout of every head at full resolution", time.perf_counter() - start))
    return phases


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm", choices=["minilm", "smollm2"])
    parser.add_argument("--tokens", type=int, default=2500)
    parser.add_argument("--images", action="store_true", help="the digits ViT demo instead of text")
    parser.add_argument(
        "--coarse-only", action="store_true", help="stop following at the complete coarse t-SNE Matrix View"
    )
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    demo_args = ["--images"] if args.images else ["--model", args.model, "--tokens", str(args.tokens)]
    what = "digits ViT" if args.images else f"{args.model}, {args.tokens} tokens"
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {what}")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for label in ("cold", "warm"):
            phases, complete, drawn = time_demo(
                browser, Path(tmp), demo_args, follow=label == "cold", full=not args.coarse_only
            )
            print(f"  {label}: first complete Matrix View after {complete:.1f} s ({drawn})")
            previous = 0.0
            for name, at in sorted(
                [*phases, ("page loaded and every cell drawn", complete)], key=lambda p: p[1]
            ):
                print(f"    {at - previous:5.1f} s  {name} (at {at:.1f} s)")
                previous = at
        browser.close()
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
