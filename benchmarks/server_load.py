"""Load on a real server: 32 concurrent clients on loopback fetching heads, layouts and norms.

    python benchmarks/server_load.py                      # a synthetic run of 6x12 heads, 5000 tokens
    python benchmarks/server_load.py --run runs/minilm    # any finished run
    python benchmarks/server_load.py --clients 32 --requests 40 --seconds 60

Starts `attentionviz serve RUN --port 0` (uvicorn, 127.0.0.1 only) in its own process, then runs
`--clients` threads, each with its own keep-alive connection, each making at most `--requests`
requests (and stopping after `--seconds` in all), cycling through random heads: the head record
(JSON), a layout (AVZ1 frame) and the norms (AVZ1 frame). Prints p50 / p95 / p99 latency per kind
of request and overall, throughput, bytes, and the number of errors (any non-200 or failed request).

First, `--sequential` requests go one after another on ONE keep-alive connection, as the app's
views make them: their latency is what a user waits per request, and shows any per-request delay
of a reused connection (Nagle's algorithm against a delayed ACK cost ~44 ms each before the server
set TCP_NODELAY).
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any


def start_server(run: Path) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "attentionviz", "serve", str(run), "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    for line in process.stdout:
        match = re.search(r"at (http://127\.0\.0\.1:\d+)/", line)
        if match:
            return process, match[1]
    process.kill()
    raise SystemExit("the server did not start")


def targets(base: str) -> list[tuple[str, str]]:
    import httpx

    with httpx.Client(base_url=base) as client:
        run_id = client.get("/api/runs").json()[0]["id"]
        details = client.get(f"/api/runs/{run_id}").json()
    layouts = details["layouts"]  # "tsne.2d" -> [flat head index, ...]
    found = []
    for layer in range(details["layers"]):
        for head in range(details["heads"]):
            prefix = f"/api/runs/{run_id}/layers.{layer}.heads.{head}"
            found.append(("head", prefix))
            found.append(("norms", f"{prefix}/norms"))
            found.append(("attention", f"{prefix}/attention/{(layer * 7 + head) % details['n_sequences']}"))
            index = layer * details["heads"] + head
            found.extend(("layout", f"{prefix}/{name}") for name, heads in layouts.items() if index in heads)
    return found


def client_loop(
    base: str,
    urls: list[tuple[str, str]],
    *,
    requests: int,
    stop_at: float,
    seed: int,
    out: list[tuple[str, float, int, int]],
) -> None:
    import httpx

    rng = random.Random(seed)
    with httpx.Client(base_url=base, timeout=30.0) as client:
        for _ in range(requests):
            if time.monotonic() > stop_at:
                return
            kind, url = rng.choice(urls)
            started = time.perf_counter()
            try:
                response = client.get(url)
                status, size = response.status_code, len(response.content)
            except httpx.HTTPError:
                status, size = 0, 0
            out.append((kind, time.perf_counter() - started, status, size))


def percentiles(values: list[float]) -> str:
    import numpy as np

    if not values:
        return "-"
    p50, p95, p99 = np.percentile(np.asarray(values) * 1000, [50, 95, 99])
    return f"p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  p99 {p99:7.1f} ms  ({len(values)} requests)"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, default=None, help="a finished run (default: a synthetic one)")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--requests", type=int, default=40, help="per client")
    parser.add_argument("--seconds", type=float, default=60.0, help="stop every client after this long")
    parser.add_argument("--tokens", type=int, default=5000, help="synthetic run size")
    parser.add_argument(
        "--sequential", type=int, default=200, help="requests one after another on one connection first"
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        run = args.run
        if run is None:
            import _shared  # noqa: F401  (the repo root on sys.path)
            from tests.support.synthetic import make_synthetic_run

            run = Path(tmp) / "synthetic"
            started = time.perf_counter()
            make_synthetic_run(
                run, layers=6, heads=12, tokens=args.tokens, head_dim=32, layouts=(("tsne", 2), ("pca", 3))
            )
            print(f"synthetic run: 6x12 heads, {args.tokens} tokens ({time.perf_counter() - started:.1f} s)")
        process, base = start_server(run)
        try:
            urls = targets(base)
            sequential: list[tuple[str, float, int, int]] = []
            client_loop(base, urls, requests=args.sequential, stop_at=float("inf"), seed=-1, out=sequential)
            results: list[tuple[str, float, int, int]] = []
            stop_at = time.monotonic() + args.seconds
            threads = [
                threading.Thread(
                    target=client_loop,
                    args=(base, urls),
                    kwargs={"requests": args.requests, "stop_at": stop_at, "seed": i, "out": results},
                )
                for i in range(args.clients)
            ]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
        finally:
            process.terminate()
            process.wait(timeout=30)

    errors = sum(1 for _, _, status, _ in [*sequential, *results] if status != 200)
    print(f"one keep-alive connection, {len(sequential)} requests one after another:")
    for kind in sorted({r[0] for r in sequential}):
        print(f"  {kind:9s} {percentiles([r[1] for r in sequential if r[0] == kind])}")
    print(f"  {'all':9s} {percentiles([r[1] for r in sequential])}")
    print(
        f"{args.clients} clients on {base}, {len(results)} requests in {elapsed:.1f} s "
        f"({len(results) / elapsed:.0f} requests/s, {sum(r[3] for r in results) / 1e6:.1f} MB)"
    )
    for kind in sorted({r[0] for r in results}):
        print(f"  {kind:9s} {percentiles([r[1] for r in results if r[0] == kind])}")
    print(f"  {'all':9s} {percentiles([r[1] for r in results])}")
    print(f"errors: {errors}")
    summary: dict[str, Any] = {
        "requests": len(results),
        "errors": errors,
        "seconds": round(elapsed, 2),
        "sequential_p50_ms": round(1000 * sorted(r[1] for r in sequential)[len(sequential) // 2], 2)
        if sequential
        else None,
    }
    print(json.dumps(summary))
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
