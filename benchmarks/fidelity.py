"""Fidelity (Spearman rho of q.k against q-k distance) per model, with and without normalisation.

    python benchmarks/fidelity.py                            # MiniLM and SmolLM2, 5k tokens each
    python benchmarks/fidelity.py --models minilm --layout-heads 6

For every head: rho in the original space for raw, translated and translated+scaled vectors under
cosine and euclidean distance, and the best c per head (scale, then translate, c on a grid) under
cosine. For `--layout-heads` heads per model, spread evenly over the layers: rho in the 2D t-SNE,
UMAP and PCA layouts of raw vectors, translated vectors and translated vectors with the best c of
the head; translated+scaled (c from the norm ratio) only for PCA, as its original-space figures
differ little from translated. "mix" is the share of keys among a query's 15 nearest layout points:
0 when the two clouds lie apart, so that nearness between a query and a key shows nothing.

Pairs are those the model attends: every key of the sequence for an encoder, keys j <= i for a
decoder. The paper (Yeh et al. 2023, Table 1) reports -0.938 for BERT and -0.792 for GPT-2
(original space, cosine, translated keys).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

PAPER = {"minilm": ("BERT", -0.938), "smollm2": ("GPT-2", -0.792)}
C_GRID = (0.25, 0.5, 1.0, 2.0, 4.0)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="minilm,smollm2")
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--runs", type=Path, default=Path("runs"))
    parser.add_argument("--layout-heads", type=int, default=12, help="heads per model embedded in 2D")
    args = parser.parse_args()
    for model in args.models.split(","):
        measure(model, args.runs / f"bench-{model}-{args.tokens // 1000}k", args.tokens, args.layout_heads)


def measure(model: str, path: Path, tokens: int, layout_heads: int) -> None:
    from attentionviz.api import open as open_run
    from attentionviz.embed import fidelity, joint
    from attentionviz.embed.knn import knn_graph
    from attentionviz.embed.quality import knn_preservation
    from attentionviz.embed.reducers import get_reducer

    if not (path / "manifest.json").exists():
        import attentionviz as av

        print(f"building {model} run at {path} ({tokens} tokens) ...", flush=True)
        av.build(model, "wikipedia", out=path, max_tokens=tokens, layouts=())
    run = open_run(path)
    info = run.info
    starts = run.sequences["token_start"].to_numpy()
    lengths = run.sequences["n_tokens"].to_numpy()
    every = [(layer, head) for layer in range(info.layers) for head in range(info.heads)]
    chosen = set(every[:: max(1, len(every) // layout_heads)][:layout_heads])
    space: dict[str, list[float]] = {}
    layouts: dict[str, list[float]] = {}
    best_c: list[float] = []
    best_rho: list[float] = []
    started = time.perf_counter()
    for layer, head_index in every:
        head = run.head(layer, head_index)
        q, k = np.asarray(head.queries()), np.asarray(head.keys())
        layer_info = run.manifest.layers[layer]
        pairs = fidelity.Pairs(
            q, k, starts, lengths, causal=layer_info.causal, window=layer_info.sliding_window
        )
        for how in (joint.RAW, joint.TRANSLATED, joint.TRANSLATED_SCALED):
            vectors = joint.normalise(q, k, how)
            for metric in ("cosine", "euclidean"):
                space.setdefault(f"{how.describe()} {metric}", []).append(
                    pairs.rho(vectors.q, vectors.k, metric=metric)
                )
        sweep = []
        for c in C_GRID:
            vectors = joint.normalise(q, k, joint.Normalisation(translate=True, scale=c))
            sweep.append(pairs.rho(vectors.q, vectors.k, metric="cosine"))
        best_rho.append(float(np.nanmin(sweep)))
        best_c.append(C_GRID[int(np.nanargmin(sweep))])
        if (layer, head_index) in chosen:
            tuned = joint.Normalisation(translate=True, scale=best_c[-1])
            for how in (joint.RAW, joint.TRANSLATED, joint.TRANSLATED_SCALED, tuned):
                vectors = joint.normalise(q, k, how)
                x = vectors.stacked()
                n = len(q)
                graph = knn_graph(x, 45)
                methods = ("pca",) if how is joint.TRANSLATED_SCALED else ("tsne", "umap", "pca")
                label = "translated+best c" if how is tuned else how.describe()
                for method in methods:
                    coords = get_reducer(method).embed(x, dim=2, knn=graph, seed=0)
                    key = f"{method} 2D {label}"
                    layouts.setdefault(key, []).append(pairs.rho(coords[:n], coords[n:]))
                    layouts.setdefault(f"{key} kNN", []).append(knn_preservation(graph, coords))
                    layouts.setdefault(f"{key} mix", []).append(mixing(coords, n))
    seconds = time.perf_counter() - started
    paper_name, paper_rho = PAPER.get(model, ("-", float("nan")))
    print()
    print(
        f"{model}: {info.layers}x{info.heads} heads, {info.n_tokens} tokens ({seconds:.0f} s); paper {paper_name} {paper_rho:+.3f}"
    )
    print(f"  original space, all {len(every)} heads (mean rho, and the share of heads below -0.5):")
    for key, values in space.items():
        arr = np.asarray(values, dtype=float)
        print(f"    {key:32s} {np.nanmean(arr):+.3f}   ({np.mean(arr < -0.5):.0%})")
    counts = {c: best_c.count(c) for c in C_GRID}
    print(f"    {'best c per head, cosine':32s} {np.nanmean(best_rho):+.3f}   (c chosen: {counts})")
    print(f"  2D layouts, {len(chosen)} heads (mean rho; kNN preservation; keys among a query's 15 nearest):")
    for key, values in layouts.items():
        if key.endswith((" kNN", " mix")):
            continue
        print(
            f"    {key:32s} {np.nanmean(values):+.3f}   kNN {np.nanmean(layouts[key + ' kNN']):.3f}"
            f"   mix {np.nanmean(layouts[key + ' mix']):.2f}"
        )


def mixing(coords: np.ndarray, n: int) -> float:
    """Mean share of keys among each query's 15 nearest layout points: 0 when the two clouds are apart."""
    from attentionviz.embed.quality import layout_neighbours

    neighbours = layout_neighbours(coords, 15)[:n]  # [N, 15], the queries' rows
    return float((neighbours >= n).mean())


if __name__ == "__main__":
    main()
