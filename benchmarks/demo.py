"""`attentionviz demo`: time from the command to the first complete Matrix View, cold and warm.

    python benchmarks/demo.py                 # MiniLM, 2,500 tokens (the demo's default)
    python benchmarks/demo.py --tokens 500    # a smaller sample
    python benchmarks/demo.py --model smollm2

Cold: an empty cache folder (capture, PCA of every head, server start, page load). Warm: the same
command again on that cache. "Complete" is the app's render event after every cell of the Matrix
View is drawn (with PCA while t-SNE/UMAP are still being computed in the background). The browser
is Debian's headless Chromium (WebGL2 in software). Target (issue 6): cold <= 30 s on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from attentionviz.snapshot import CHROMIUM_ARGS

URL = re.compile(r"attentionviz demo: \S+ at (http://\S+)")


def time_demo(browser: Any, cache: Path, model: str, tokens: int) -> tuple[float, float, str]:
    """(seconds to the printed URL, seconds to the complete Matrix View, view and projection drawn)."""
    env = {**os.environ, "ATTENTIONVIZ_CACHE": str(cache), "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "attentionviz", "demo", "--no-open", "--port", "0", "--quiet"]
    command += ["--model", model, "--tokens", str(tokens)]
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, start_new_session=True
    )
    try:
        assert process.stdout is not None
        url = ""
        for line in process.stdout:
            found = URL.search(line)
            if found:
                url = found.group(1)
                break
        if not url:
            raise SystemExit("the demo exited without printing its URL")
        served = time.perf_counter() - start
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(url)
        event = page.evaluate("window.__attentionviz.whenRendered()")
        complete = time.perf_counter() - start
        projection = page.get_by_test_id("projection").input_value()
        context.close()
        return served, complete, f"{event['view']} view, {projection}"
    finally:
        os.killpg(process.pid, signal.SIGINT)
        process.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="minilm", choices=["minilm", "smollm2"])
    parser.add_argument("--tokens", type=int, default=2500)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.model}, {args.tokens} tokens"
    )
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for label in ("cold", "warm"):
            served, complete, what = time_demo(browser, Path(tmp), args.model, args.tokens)
            print(
                f"  {label}: URL printed after {served:.1f} s, first complete Matrix View after {complete:.1f} s ({what})"
            )
        browser.close()


if __name__ == "__main__":
    main()
