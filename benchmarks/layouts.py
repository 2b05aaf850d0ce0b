"""Our layouts against the original AttentionViz pipeline, on the same MiniLM heads (10k points each).

    python benchmarks/layouts.py                         # heads 2.3, 0.0, 5.11 of a 5k-token MiniLM run
    python benchmarks/layouts.py --heads 2.3 --repeat 2  # one head, best of two timings

The original (Yeh et al.'s notebooks): sklearn TSNE(perplexity=50, max_iter=300, metric="cosine",
n_jobs=-1), umap-learn UMAP(init="random", random_state=0, metric="cosine") with its defaults, and
sklearn PCA, each in 2D and 3D, on the stacked [Q; K'] with translated keys. umap-learn's numba
JIT is paid on the first call in a process: it is shown on its own line and counted once (spread
over the heads measured) in the per-head figure, as a notebook would pay it.

Ours: attentionviz.embed (one exact cosine kNN graph per head, shared; manifolds-rs t-SNE and
UMAP; openTSNE Barnes-Hut for 3D t-SNE; numpy PCA). The kNN time is shown on its own line and
added once to our per-head total. Quality: kNN preservation (k=15), trustworthiness (k=15) and
the fidelity rho of each layout, computed the same way for both.

Nothing is asserted; the figures are printed. Other processes on the machine change the
timings, so compare the two columns of one run, not runs with each other.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_SET = (("tsne", 2), ("umap", 2), ("umap", 3), ("pca", 2), ("pca", 3))
ALL = (("tsne", 2), ("tsne", 3), ("umap", 2), ("umap", 3), ("pca", 2), ("pca", 3))


def ensure_run(path: Path, model: str, tokens: int) -> Path:
    import attentionviz as av

    if not (path / "manifest.json").exists():
        print(f"building {model} run at {path} ({tokens} tokens) ...", flush=True)
        av.build(model, "wikipedia", out=path, max_tokens=tokens, layouts=())
    return path


def original(method: str, dim: int, x: np.ndarray, seed: int) -> np.ndarray:
    if method == "tsne":
        from sklearn.manifold import TSNE

        tsne = TSNE(dim, perplexity=50, max_iter=300, metric="cosine", n_jobs=-1, random_state=seed)
        return np.asarray(tsne.fit_transform(x), dtype=np.float32)
    if method == "umap":
        import umap

        reducer = umap.UMAP(n_components=dim, init="random", random_state=seed, metric="cosine")
        return np.asarray(reducer.fit_transform(x), dtype=np.float32)
    from sklearn.decomposition import PCA

    return np.asarray(PCA(dim).fit_transform(x), dtype=np.float32)


def timed(
    func: Callable[..., np.ndarray], *args: Any, repeat: int = 1, **kwargs: Any
) -> tuple[float, np.ndarray]:
    best, result = float("inf"), np.empty(0)
    for _ in range(repeat):
        start = time.perf_counter()
        result = func(*args, **kwargs)
        best = min(best, time.perf_counter() - start)
    return best, result


def jit_warmup() -> float:
    """umap-learn's first call in a process: numba compiles its kernels (on a small random input)."""
    import umap

    start = time.perf_counter()
    umap.UMAP(n_components=2, init="random", random_state=0, metric="cosine").fit_transform(
        np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32)
    )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, default=Path("runs/bench-minilm-5k"))
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--heads", default="2.3,0.0,5.11", help="layer.head list")
    parser.add_argument("--repeat", type=int, default=1, help="timings per layout (best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--skip-original", action="store_true")
    args = parser.parse_args()

    from attentionviz.api import open as open_run
    from attentionviz.embed import fidelity, joint
    from attentionviz.embed.knn import knn_graph
    from attentionviz.embed.reducers import get_reducer

    run = open_run(ensure_run(args.run, "minilm", args.tokens))
    heads = [tuple(int(v) for v in item.split(".")) for item in args.heads.split(",")]
    starts = run.sequences["token_start"].to_numpy()
    lengths = run.sequences["n_tokens"].to_numpy()
    print(
        f"run {run.path}: {run.info.n_tokens} tokens -> {2 * run.info.n_tokens} points per head; heads {args.heads}"
    )

    jit = 0.0 if args.skip_original else jit_warmup()
    rows: dict[tuple[str, int], dict[str, list[Any]]] = {}
    knn_times: list[float] = []
    for layer, head_index in heads:
        head = run.head(layer, head_index)
        q, k = np.asarray(head.queries()), np.asarray(head.keys())
        vectors = joint.normalise(q, k, joint.TRANSLATED)
        x = vectors.stacked()
        pairs = fidelity.Pairs(q, k, starts, lengths)
        start = time.perf_counter()
        graph = knn_graph(x, 45)
        knn_times.append(time.perf_counter() - start)
        print(f"  L{layer}H{head_index} kNN graph: {knn_times[-1]:.2f} s", flush=True)

        for method, dim in ALL:
            row = rows.setdefault((method, dim), {"orig_s": [], "orig_q": [], "ours_s": [], "ours_q": []})
            reducer = get_reducer(method)
            seconds, coords = timed(reducer.embed, x, dim=dim, knn=graph, seed=args.seed, repeat=args.repeat)
            row["ours_s"].append(seconds)
            row["ours_q"].append(score(x, coords, graph, pairs))
            if not args.skip_original:
                seconds, coords = timed(original, method, dim, x, args.seed, repeat=args.repeat)
                row["orig_s"].append(seconds)
                row["orig_q"].append(score(x, coords, graph, pairs))
            orig_text = (
                f"original {row['orig_s'][-1]:6.2f} s {fmt(row['orig_q'][-1])}" if row["orig_s"] else ""
            )
            print(
                f"  L{layer}H{head_index} {method} {dim}D: ours {row['ours_s'][-1]:6.2f} s {fmt(row['ours_q'][-1])}"
                f"   {orig_text}",
                flush=True,
            )
    report(rows, knn_times, jit, len(heads))


def fmt(scores: tuple[float, float, float]) -> str:
    return "(kNN {:.3f}, trust {:.3f}, rho {:+.3f})".format(*scores)


def score(x: np.ndarray, coords: np.ndarray, graph: Any, pairs: Any) -> tuple[float, float, float]:
    from attentionviz.embed import quality

    n = len(x) // 2
    return (
        quality.knn_preservation(graph, coords),
        quality.trustworthiness(x, coords, metric="cosine"),
        pairs.rho(coords[:n], coords[n:]),
    )


def report(
    rows: dict[tuple[str, int], dict[str, list[Any]]], knn_times: list[float], jit: float, n_heads: int
) -> None:
    print()
    print(f"seconds per head (mean over {n_heads} heads); quality = kNN preservation / trustworthiness / rho")
    print(
        f"umap-learn JIT on the first call in the process: {jit:.1f} s (spread over the heads in 'original')"
    )
    print(f"our shared kNN graph (k=45, exact cosine): {np.mean(knn_times):.2f} s per head")
    header = f"{'layout':10s} {'original s':>10s} {'ours s':>8s} {'ratio':>7s}   {'original quality':>22s}   {'ours quality':>22s}"
    print(header)
    print("-" * len(header))
    totals = {"orig": 0.0, "ours": float(np.mean(knn_times))}
    for (method, dim), row in rows.items():
        ours = float(np.mean(row["ours_s"]))
        ours_q = np.mean(row["ours_q"], axis=0)
        if row["orig_s"]:
            orig = float(np.mean(row["orig_s"])) + (jit / n_heads if (method, dim) == ("umap", 2) else 0.0)
            orig_q = np.mean(row["orig_q"], axis=0)
            orig_text = f"{orig:10.2f}"
            ratio = f"{orig / ours:6.1f}x" if ours > 0 else "   -"
            orig_quality = "{:.3f} / {:.3f} / {:+.3f}".format(*orig_q)
        else:
            orig, orig_text, ratio, orig_quality = 0.0, f"{'-':>10s}", "   -", "-"
        if (method, dim) in DEFAULT_SET:
            totals["orig"] += orig
            totals["ours"] += ours
        ours_quality = "{:.3f} / {:.3f} / {:+.3f}".format(*ours_q)
        print(
            f"{method + ' ' + str(dim) + 'D':10s} {orig_text} {ours:8.2f} {ratio:>7s}   {orig_quality:>22s}   {ours_quality:>22s}"
        )
    if totals["orig"]:
        print(
            f"default set (t-SNE 2D, UMAP 2D+3D, PCA 2D+3D) per head: original {totals['orig']:.2f} s, "
            f"ours {totals['ours']:.2f} s (kNN included), {totals['orig'] / totals['ours']:.1f}x faster"
        )


if __name__ == "__main__":
    main()
