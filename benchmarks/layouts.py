"""Our layouts against the original AttentionViz pipeline, on the same MiniLM heads (10k points each),
and at scale: a synthetic 1,024-head run, locally and on a Dask cluster.

    python benchmarks/layouts.py                          # heads 2.3, 0.0, 5.11 of a 5k-token MiniLM run
    python benchmarks/layouts.py --layouts tsne.2d,umap.2d,umap.3d,pca.2d,pca.3d   # the default set only
    python benchmarks/layouts.py --heads 2.3 --repeat 2   # one head, best of two timings
    python benchmarks/layouts.py --clock cpu             # CPU seconds (all threads): steadier on a busy machine
    python benchmarks/layouts.py --scale                  # 32 x 32 heads, head_dim 128, 10k tokens: local
    python benchmarks/layouts.py --scale --cluster 2      # ... and on a scheduler with two Dask workers
    python benchmarks/layouts.py --scale --scale-layers 4 # the first 4 layers only (a shorter measurement)

Per head. The original (Yeh et al.'s notebooks): sklearn TSNE(perplexity=50, max_iter=300,
metric="cosine", n_jobs=-1), umap-learn UMAP(init="random", random_state=0, metric="cosine") with
its defaults, and sklearn PCA, each in 2D and 3D, on the stacked [Q; K'] with translated keys.
umap-learn's numba JIT is paid on the first call in a process: it is shown on its own line and
counted once (spread over the heads measured) in the per-head figure, as a notebook would pay it.

Ours: attentionviz.embed as `embed` runs it on a head of this size: one exact cosine kNN graph per
head (shown against manifolds-rs's k-means kNN), the 2D t-SNE and UMAP made coarse to fine (on the
head's 2,000-row level-of-detail sample, then refined to every point; "direct" is the same method
from a PCA start, for comparison, with how far the sample rows move from the coarse layout to the
full one, in a Matrix View cell's normalisation), 3D UMAP and PCA directly. Quality: kNN
preservation (k=15), trustworthiness (k=15) and the fidelity rho of each layout, computed the same
way for both. manifolds-rs's FFT t-SNE costs ~1.6 s more CPU when the call before it in the
process was a UMAP or a Barnes-Hut t-SNE (as in every `embed` job after the first) than after
another FFT t-SNE: each t-SNE timing here follows such a call, as in `embed`.

At scale: the time to a complete coarse Matrix View (every head's coarse t-SNE; then UMAP too) and
to every full layout, with the default layouts and the local pool (or Dask workers, one thread each,
on this machine's loopback).

Nothing is asserted; the figures are printed. Other processes on the machine change the
timings, so compare the columns of one run, not runs with each other.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from _shared import ROOT

DEFAULT_SET = ("tsne.2d", "umap.2d", "umap.3d", "pca.2d", "pca.3d")
ALL = ("tsne.2d", "tsne.3d", *DEFAULT_SET[1:])
COARSE_TO_FINE = ("tsne.2d", "umap.2d")  # what `embed` makes coarse first, then refines


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


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
clock = CLOCKS["wall"]


def timed(func: Callable[..., Any], *args: Any, repeat: int = 1, **kwargs: Any) -> tuple[float, Any]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = clock()
        result = func(*args, **kwargs)
        best = min(best, clock() - start)
    return best, result


def jit_warmup() -> float:
    """umap-learn's first call in a process: numba compiles its kernels (on a small random input)."""
    import umap

    start = time.perf_counter()
    umap.UMAP(n_components=2, init="random", random_state=0, metric="cosine").fit_transform(
        np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32)
    )
    return time.perf_counter() - start


def coarse_to_fine(
    x: np.ndarray, graph: Any, method: str, seed: int
) -> tuple[float, float, np.ndarray, float]:
    """What `embed` does for a 2D layout of a big head: (coarse seconds, refine seconds, layout,
    mean displacement of the sample rows from the coarse layout to the full one)."""
    from attentionviz.embed import coarse
    from attentionviz.embed.knn import knn_graph
    from attentionviz.embed.reducers import get_reducer

    reducer = get_reducer(method)
    sample = coarse.coarse_sample(len(x) // 2)
    assert sample is not None
    start = clock()
    sample_graph = knn_graph(x[sample], reducer.neighbours())
    placed = coarse.spread_evenly(reducer.embed(x[sample], dim=2, knn=sample_graph, seed=seed))
    begin = coarse.extend(x, sample, placed, metric="cosine", seed=seed)
    rough = clock() - start
    start = clock()
    full = coarse.align(reducer.refine(x, begin, knn=graph, seed=seed), sample, begin[sample])  # type: ignore[attr-defined]
    return rough, clock() - start, full, coarse.displacement(begin, full, sample)


def as_in_a_worker(x: np.ndarray) -> None:
    """An untimed Barnes-Hut t-SNE: the next FFT t-SNE then runs as it does in an `embed` job."""
    from attentionviz.embed.knn import knn_graph
    from attentionviz.embed.reducers import get_reducer

    part = x[:2000]
    get_reducer("tsne").embed(part, dim=2, knn=knn_graph(part, 45), seed=0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--run", type=Path, default=ROOT / "runs" / "bench-minilm-5k")
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--heads", default="2.3,0.0,5.11", help="layer.head list")
    parser.add_argument("--layouts", default=",".join(ALL), help="layout keys to compare")
    parser.add_argument("--repeat", type=int, default=1, help="timings per layout (best is kept)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--clock",
        choices=tuple(CLOCKS),
        default="wall",
        help="per-head seconds: wall-clock, or CPU seconds of every thread (steadier on a busy machine)",
    )
    parser.add_argument("--skip-original", action="store_true")
    parser.add_argument("--scale", action="store_true", help="the 1,024-head synthetic run instead")
    parser.add_argument("--scale-layers", type=int, default=32, help="layers of it to embed (of 32)")
    parser.add_argument("--cluster", type=int, default=0, help="with --scale: also on N local Dask workers")
    args = parser.parse_args()
    global clock
    clock = CLOCKS[args.clock]
    print(f"{args.clock} seconds; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    if args.scale:
        scale(args.scale_layers, args.cluster)
    else:
        per_head(args)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


def per_head(args: argparse.Namespace) -> None:
    import manifolds_rs

    from attentionviz.api import open as open_run
    from attentionviz.embed import fidelity, joint
    from attentionviz.embed.knn import knn_graph
    from attentionviz.embed.reducers import get_reducer
    from attentionviz.layouts import Layout

    run = open_run(ensure_run(args.run, "minilm", args.tokens))
    heads = [tuple(int(v) for v in item.split(".")) for item in args.heads.split(",")]
    layouts = [Layout.parse(key) for key in args.layouts.split(",")]
    starts = run.sequences["token_start"].to_numpy()
    lengths = run.sequences["n_tokens"].to_numpy()
    print(
        f"run {run.path}: {run.info.n_tokens} tokens -> {2 * run.info.n_tokens} points per head; heads {args.heads}"
    )

    jit = 0.0 if args.skip_original or not any(m == "umap" for m, _ in layouts) else jit_warmup()
    knn_graph(np.random.default_rng(0).normal(size=(500, 8)).astype(np.float32), 45)  # import torch first
    rows: dict[str, dict[str, list[Any]]] = {}
    knn_times: dict[str, list[float]] = {"blocked product (ours)": [], "k-means kNN (manifolds-rs)": []}
    for layer, head_index in heads:
        head = run.head(layer, head_index)
        q, k = np.asarray(head.queries()), np.asarray(head.keys())
        x = joint.normalise(q, k, joint.TRANSLATED).stacked()
        pairs = fidelity.Pairs(q, k, starts, lengths)
        seconds, graph = timed(knn_graph, x, 45, repeat=args.repeat)
        knn_times["blocked product (ours)"].append(seconds)
        seconds, _ = timed(
            manifolds_rs.knn_graph, x, 45, metric="cosine", ann="kmknn", seed=0, repeat=args.repeat
        )
        knn_times["k-means kNN (manifolds-rs)"].append(seconds)
        print(
            f"  L{layer}H{head_index} kNN graph: "
            + ", ".join(f"{n} {t[-1]:.2f} s" for n, t in knn_times.items())
        )

        for layout in layouts:
            if layout.key == "tsne.2d":
                as_in_a_worker(x)
            row = rows.setdefault(
                layout.key,
                {
                    k: []
                    for k in (
                        "orig_s",
                        "orig_q",
                        "ours_s",
                        "ours_q",
                        "direct_s",
                        "direct_q",
                        "moved",
                        "coarse_s",
                    )
                },
            )
            seconds, coords = timed(
                get_reducer(layout.method).embed,
                x,
                dim=layout.dim,
                knn=graph,
                seed=args.seed,
                repeat=args.repeat,
            )
            row["direct_s"].append(seconds)
            row["direct_q"].append(score(x, coords, graph, pairs))
            text = f"direct {seconds:6.2f} s {fmt(row['direct_q'][-1])}"
            if layout.key in COARSE_TO_FINE:
                rough, refine, coords, moved = coarse_to_fine(x, graph, layout.method, args.seed)
                row["coarse_s"].append(rough)
                row["ours_s"].append(rough + refine)
                row["ours_q"].append(score(x, coords, graph, pairs))
                row["moved"].append(moved)
                text = (
                    f"coarse {rough:5.2f} s + full {refine:5.2f} s {fmt(row['ours_q'][-1])}, sample rows "
                    f"moved {moved:.1%}; {text}"
                )
            else:
                row["ours_s"].append(row["direct_s"][-1])
                row["ours_q"].append(row["direct_q"][-1])
            if not args.skip_original:
                seconds, coords = timed(original, layout.method, layout.dim, x, args.seed, repeat=args.repeat)
                row["orig_s"].append(seconds)
                row["orig_q"].append(score(x, coords, graph, pairs))
                text += f"   original {seconds:6.2f} s {fmt(row['orig_q'][-1])}"
            print(f"  L{layer}H{head_index} {layout.key}: {text}", flush=True)
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
    rows: dict[str, dict[str, list[Any]]], knn_times: dict[str, list[float]], jit: float, n_heads: int
) -> None:
    print()
    print(f"seconds per head (mean over {n_heads} heads); quality = kNN preservation / trustworthiness / rho")
    print(
        f"umap-learn JIT on the first call in the process: {jit:.1f} s (spread over the heads in 'original')"
    )
    for name, times in knn_times.items():
        print(f"kNN graph (k=45, exact cosine), {name}: {np.mean(times):.2f} s per head")
    header = f"{'layout':9s} {'original s':>10s} {'ours s':>7s} {'ratio':>7s}   {'original quality':>22s}   {'ours quality':>22s}   notes"
    print(header)
    print("-" * len(header))
    ours_knn = float(np.mean(knn_times["blocked product (ours)"]))
    totals = {"orig": 0.0, "ours": ours_knn}
    worse: list[str] = []
    for key, row in rows.items():
        ours = float(np.mean(row["ours_s"]))
        ours_q = np.mean(row["ours_q"], axis=0)
        notes = ""
        if row["moved"]:
            direct_q = np.mean(row["direct_q"], axis=0)
            notes = (
                f"coarse {np.mean(row['coarse_s']):.2f} s of it; sample rows moved {np.mean(row['moved']):.1%} "
                f"(max {np.max(row['moved']):.1%}); direct {np.mean(row['direct_s']):.2f} s "
                + "{:.3f} / {:.3f} / {:+.3f}".format(*direct_q)
            )
        if row["orig_s"]:
            orig = float(np.mean(row["orig_s"])) + (jit / n_heads if key == "umap.2d" else 0.0)
            orig_q = np.mean(row["orig_q"], axis=0)
            orig_text, ratio = f"{orig:10.2f}", f"{orig / ours:6.1f}x" if ours > 0 else "   -"
            orig_quality = "{:.3f} / {:.3f} / {:+.3f}".format(*orig_q)
            for i, (ours_h, orig_h) in enumerate(zip(row["ours_q"], row["orig_q"], strict=True)):
                for what, a, b in (("kNN", ours_h[0], orig_h[0]), ("trust", ours_h[1], orig_h[1])):
                    if a < b - 5e-4:  # beyond the printed precision
                        worse.append(f"{key} head #{i + 1} {what} {a:.3f} < {b:.3f}")
        else:
            orig, orig_text, ratio, orig_quality = 0.0, f"{'-':>10s}", "   -", "-"
        if key in DEFAULT_SET:
            totals["orig"] += orig
            totals["ours"] += ours
        ours_quality = "{:.3f} / {:.3f} / {:+.3f}".format(*ours_q)
        print(
            f"{key:9s} {orig_text} {ours:7.2f} {ratio:>7s}   {orig_quality:>22s}   {ours_quality:>22s}   {notes}"
        )
    if totals["orig"] and set(DEFAULT_SET) <= set(rows):
        print(
            f"default set (t-SNE 2D, UMAP 2D+3D, PCA 2D+3D) per head: original {totals['orig']:.2f} s, "
            f"ours {totals['ours']:.2f} s (kNN included), {totals['orig'] / totals['ours']:.1f}x faster"
        )
    if rows and any(row["orig_s"] for row in rows.values()):
        print(
            "ours below the original: " + ("; ".join(worse) if worse else "none (every layout, every head)")
        )


# --- scale ---------------------------------------------------------------------------------------


def scale(layers: int, cluster_workers: int) -> None:
    from tests.support.synthetic import make_synthetic_run

    path = ROOT / "runs" / "bench-synthetic-1024"
    if not (path / "manifest.json").exists():
        print(
            f"writing the synthetic 32 x 32-head run at {path} (10k tokens, head_dim 128, 8 KV heads) ...",
            flush=True,
        )
        start = time.perf_counter()
        make_synthetic_run(
            path, layers=32, heads=32, kv_heads=8, head_dim=128, tokens=10_000, layouts=(), seed=0
        )
        print(f"  written in {time.perf_counter() - start:.0f} s")
    heads = [(layer, head) for layer in range(layers) for head in range(32)]
    print(f"{len(heads)} heads ({layers} layers x 32) of 20,000 points, default layouts")
    print(f"  local pool ({os.cpu_count()} cores): {timeline(fresh_copy(path), heads, cluster=None)}")
    if cluster_workers:
        with dask_cluster(cluster_workers) as address:
            print(
                f"  {cluster_workers} Dask workers (one thread each): {timeline(fresh_copy(path), heads, cluster=address)}"
            )


def fresh_copy(path: Path) -> Path:
    """The run without layouts, its arrays hard-linked (no copy of the gigabytes)."""
    copy = Path(tempfile.mkdtemp(prefix="bench-scale-", dir=path.parent)) / path.name
    shutil.copytree(path, copy, copy_function=os.link, ignore=shutil.ignore_patterns("heads"))
    return copy


def timeline(run_dir: Path, heads: list[tuple[int, int]], *, cluster: str | None) -> str:
    from attentionviz.embed.pipeline import embed_quick, embed_run

    marks: dict[str, float] = {}
    start = time.perf_counter()

    def mark(name: str) -> None:  # printed as it happens too: a long measurement cut short keeps its figures
        marks[name] = time.perf_counter() - start
        print(f"    {name} at {marks[name]:.0f} s", flush=True)

    embed_quick(run_dir, heads=heads)
    mark("PCA")

    def coarse_progress(done: int, total: int) -> None:
        if done == total // 2:
            mark("coarse t-SNE of every head (a complete t-SNE Matrix View)")
        if done == total:
            mark("coarse UMAP too")

    embed_run(run_dir, heads=heads, refine=False, cluster=cluster, progress=coarse_progress)
    embed_run(run_dir, heads=heads, cluster=cluster)
    mark("every full layout, metrics and fidelity")
    shutil.rmtree(run_dir.parent)
    return "; ".join(f"{name} at {seconds:.0f} s" for name, seconds in marks.items())


@contextmanager
def dask_cluster(workers: int) -> Iterator[str]:
    from tests.support.dask_cluster import DaskCluster

    folder = Path(tempfile.mkdtemp(prefix="bench-dask-"))
    cluster = DaskCluster(folder, workers=workers)
    try:
        yield cluster.address
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
