"""What the head atlas costs, and what it finds, on the two offline models.

    python benchmarks/atlas.py                         # MiniLM and SmolLM2, 5,000 Wikipedia tokens
    python benchmarks/atlas.py --tokens 2000 --importance-tokens 512 --repeat 2 --screenshots

For each model (loaded once), times, in this process:
  capture   the corpus capture (probes off)
  probes    capturing the probe sequences into RUN/probes
  pca       PCA layouts and the embed step's metrics and fidelity (the cheapest complete build)
  atlas     every head's atlas record (probe scores, attention profile, q/k geometry)
  importance  mean ablation on --importance-tokens tokens (models with an LM head only)
and prints each in seconds (best of --repeat, and the spread), with probes + atlas and importance as
a share of capture + pca + probes + atlas (t-SNE and UMAP, which a default build adds, make the
share smaller). Then the top five heads of each model by every metric, and with --screenshots the
Matrix View coloured by induction and the two models' head map, drawn by the app in Chromium
(test-output/atlas/). Timings on a shared machine are noisy: compare the spread.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import _shared

OUT = _shared.ROOT / "test-output" / "atlas"
METRICS = (
    "entropy",
    "distance",
    "previous",
    "next",
    "self",
    "first",
    "sparsity",
    "induction",
    "duplicate",
    "importance",
)


def timed(func: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = func(*args, **kwargs)
    return time.perf_counter() - start, result


def measure(
    name: str, folder: Path, tokens: int, importance_tokens: int, repeat: int
) -> tuple[dict[str, list[float]], Path]:
    """Seconds of each stage (one list entry per repeat) and the last run folder."""
    import dataclasses

    import attentionviz as av
    from attentionviz.analysis.importance import run_importance
    from attentionviz.analysis.pipeline import analyse_run
    from attentionviz.capture import loading
    from attentionviz.capture.pipeline import capture
    from attentionviz.capture.probes import capture_probes
    from attentionviz.corpus import open_corpus
    from attentionviz.errors import AttentionVizError
    from attentionviz.options import BuildOptions

    loaded = loading.load(name)
    options = BuildOptions(max_tokens=tokens, probes=("induction",))
    corpus = open_corpus("wikipedia", split=options.split)
    seconds: dict[str, list[float]] = {k: [] for k in ("capture", "probes", "pca", "atlas", "importance")}
    run_dir = folder / name
    for attempt in range(repeat):
        shutil.rmtree(run_dir, ignore_errors=True)
        seconds["capture"].append(
            timed(capture, loaded, corpus, run_dir, dataclasses.replace(options, probes=()))[0]
        )
        seconds["probes"].append(timed(capture_probes, loaded, run_dir, options)[0])
        seconds["pca"].append(timed(av.open(run_dir).embed, layouts=("pca",), dims=(2,))[0])
        seconds["atlas"].append(timed(analyse_run, run_dir)[0])
        if attempt == 0:  # minutes on SmolLM2: once
            try:
                seconds["importance"].append(
                    timed(run_importance, av.open(run_dir), model=name, tokens=importance_tokens)[0]
                )
            except AttentionVizError as exc:
                print(f"  {name}: importance not measured: {exc}")
    return seconds, run_dir


def report(name: str, seconds: dict[str, list[float]], tokens: int, importance_tokens: int) -> None:
    best = {k: min(v) for k, v in seconds.items() if v}
    build = best["capture"] + best["pca"] + best["probes"] + best["atlas"]
    print(f"\n{name}: {tokens:,} tokens (best of {len(seconds['capture'])}; spread max/min)")
    for stage, values in seconds.items():
        if values:
            spread = max(values) / min(values) if min(values) > 0 else float("nan")
            print(f"  {stage:<11} {best[stage]:8.1f} s   x{spread:.2f}")
    share = (best["probes"] + best["atlas"]) / build
    print(
        f"  probes + atlas: {best['probes'] + best['atlas']:.1f} s = {100 * share:.1f}% of capture + pca + probes + atlas ({build:.1f} s)"
    )
    if "importance" in best:
        per_1k = 1000 * best["importance"] / importance_tokens
        print(
            f"  importance on {importance_tokens:,} tokens: {best['importance']:.1f} s "
            f"({per_1k:.1f} s per 1,000 tokens) = {100 * best['importance'] / (build + best['importance']):.1f}% of that build with it"
        )


def top_heads(run_dir: Path) -> None:
    import attentionviz as av
    from attentionviz.analysis.table import ATTENTION_METRICS

    table = av.open(run_dir).metrics
    print(f"\ntop five heads of {run_dir.name} (layer.head value)")
    for column in (*ATTENTION_METRICS, "importance"):
        if column not in table or table[column].isna().all():
            continue
        top = table.nlargest(5, column)
        rows = zip(top["layer"], top["head"], top[column], strict=True)
        cells = ", ".join(f"{int(layer)}.{int(head)} {value:.3f}" for layer, head, value in rows)
        print(f"  {column:<10} {cells}")


def screenshots(runs: list[Path]) -> None:
    from playwright.sync_api import sync_playwright

    from attentionviz.hosts.snapshot import CHROMIUM_ARGS, served

    OUT.mkdir(parents=True, exist_ok=True)
    views = {
        **{f"matrix-induction-{r.name}": f"run={r.name}&metric=induction" for r in runs},
        **{f"matrix-induction-top20-{r.name}": f"run={r.name}&metric=induction&top=20" for r in runs},
        "headmap-by-run": "view=headmap&mapcolor=run",
        "headmap-by-previous": "view=headmap&mapcolor=previous",
        "headmap-by-induction": "view=headmap&mapcolor=induction",
    }
    with served(runs) as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        for name, query in views.items():
            page.goto(f"{url}?{query}")
            page.evaluate("window.__attentionviz.whenRendered()")
            page.screenshot(path=str(OUT / f"{name}.png"))
            print(f"  {OUT / name}.png")
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="minilm,smollm2")
    parser.add_argument("--tokens", type=int, default=5000)
    parser.add_argument("--importance-tokens", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--screenshots", action="store_true")
    parser.add_argument("--keep", type=Path, help="keep the runs in this folder (default: a temporary one)")
    args = parser.parse_args()
    folder = args.keep or Path(tempfile.mkdtemp(prefix="atlas-bench-"))
    runs = []
    for name in args.models.split(","):
        seconds, run_dir = measure(name, folder, args.tokens, args.importance_tokens, args.repeat)
        report(name, seconds, args.tokens, args.importance_tokens)
        runs.append(run_dir)
    for run_dir in runs:
        top_heads(run_dir)
    if args.screenshots:
        print("\nscreenshots")
        screenshots(runs)
    if args.keep is None:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
