"""The kNN graph of one head (k=45, cosine): the exact blocked product `embed` uses up to
`BLAS_MAX_POINTS` points, manifolds-rs's exact k-means kNN (above it), and two approximate indexes.

    python benchmarks/knn.py                    # 10k points (a MiniLM head, and it mapped to 64 / 128
                                                # dimensions), 20k and 50k clustered points in 64
    python benchmarks/knn.py --threads 2

CPU seconds in one thread (the layout workers run one thread each on 2 cores), best of `--repeat`,
and each method's recall of the exact 15 nearest neighbours (ties aside). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from _shared import ROOT


def methods() -> dict[str, Callable[[np.ndarray, int], np.ndarray]]:
    import manifolds_rs

    from attentionviz.embed.knn import _knn_blocked

    def approximate(ann: str) -> Callable[[np.ndarray, int], np.ndarray]:
        return lambda x, k: np.asarray(manifolds_rs.knn_graph(x, k, metric="cosine", ann=ann, seed=0)[0])

    return {
        "blocked product (ours)": lambda x, k: _knn_blocked(x, k, metric="cosine", device="cpu").indices,
        "k-means kNN (exact)": approximate("kmknn"),
        "HNSW (approximate)": approximate("hnsw"),
        "NN-descent (approximate)": approximate("nndescent"),
    }


def inputs() -> dict[str, np.ndarray]:
    from attentionviz.api import open as open_run
    from attentionviz.embed import joint

    rng = np.random.default_rng(0)
    found: dict[str, np.ndarray] = {}
    path = ROOT / "runs" / "bench-minilm-5k"
    if (path / "manifest.json").exists():  # benchmarks/layouts.py builds it
        head = open_run(path).head(2, 3)
        x = joint.normalise(np.asarray(head.queries()), np.asarray(head.keys()), joint.TRANSLATED).stacked()
        found[f"MiniLM L2H3, {len(x)} x 32"] = x
        for dim in (64, 128):
            mapped = x @ rng.normal(size=(32, dim)) + 0.3 * rng.normal(size=(len(x), dim))
            found[f"the same mapped to {dim} dimensions"] = mapped
    for n in (20_000, 50_000):
        centres = rng.normal(size=(200, 64))
        found[f"{n} clustered points x 64"] = centres[rng.integers(0, 200, n)] + 0.5 * rng.normal(
            size=(n, 64)
        )
    return {name: np.ascontiguousarray(x, dtype=np.float32) for name, x in found.items()}


def cpu_seconds(func: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.process_time()
        result = func()
        best = min(best, time.process_time() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--k", type=int, default=45)
    args = parser.parse_args()
    from attentionviz.embed.threads import set_threads

    set_threads(args.threads)
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {args.threads} thread(s), k={args.k}"
    )
    every = methods()
    every["blocked product (ours)"](np.ones((100, 4), dtype=np.float32), 5)  # import torch first
    for name, x in inputs().items():
        exact: np.ndarray | None = None
        for method, search in every.items():
            seconds, found = cpu_seconds(lambda search=search, x=x: search(x, args.k), args.repeat)
            exact = found if exact is None else exact
            rows = min(2000, len(x))
            recall = (
                np.mean(
                    [
                        len(np.intersect1d(a, b))
                        for a, b in zip(exact[:rows, :15], found[:rows, :15], strict=True)
                    ]
                )
                / 15
            )
            print(f"  {name:38s} {method:26s} {seconds:6.2f} s CPU   recall@15 {recall:.3f}", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
