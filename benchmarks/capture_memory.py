"""Capture's resident memory against corpus size: where it goes, and whether it levels off.

    python benchmarks/capture_memory.py                          # MiniLM at 5k..300k tokens
    python benchmarks/capture_memory.py --model smollm2 --tokens 5000,50000

Each size runs in a fresh process. It prints the resident memory (RSS) after loading the model,
after planning (sampling, tokenising, batching) and once the capture loop is under way, the
process's peak RSS, and the largest batch the plan made: its padded tokens and its attention
entries per head (B * S * S), the two quantities `--batch-tokens` and the attention budget cap.
Peak memory should follow the largest batch, not the corpus: once the sample is big enough to
fill a batch to the budgets, it should stay level.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
from pathlib import Path

from _shared import in_fresh_process


def _rss_mb() -> float:
    """Current resident memory (MB)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 1e6


def measure(model_name: str, max_tokens: int) -> dict[str, float]:
    from attentionviz.capture import loading
    from attentionviz.capture.architectures import family_for
    from attentionviz.capture.model_facts import model_facts
    from attentionviz.capture.pipeline import capture, plan
    from attentionviz.corpus import open_corpus
    from attentionviz.options import BuildOptions

    loaded = loading.load(model_name)
    after_load = _rss_mb()
    corpus = open_corpus("wikipedia")
    options = BuildOptions(max_tokens=max_tokens, layouts=())
    facts = model_facts(loaded.model, family_for(loaded.model.config.model_type))
    work = plan(loaded, corpus, facts, options)
    after_plan = _rss_mb()
    padded = [len(batch) * int(work.lengths[batch].max()) for batch in work.batches]
    entries = [len(batch) * int(work.lengths[batch].max()) ** 2 for batch in work.batches]
    samples: list[float] = []
    out = Path(tempfile.mkdtemp(prefix="avmem-")) / "run"
    try:
        capture(loaded, corpus, out, options, progress=lambda *_: samples.append(_rss_mb()))
    finally:
        shutil.rmtree(out.parent)
    return {
        "tokens": int(work.lengths.sum()),
        "batches": len(work.batches),
        "max_batch_tokens": max(padded),
        "max_batch_entries": max(entries),
        "longest": int(work.lengths.max()),
        "after_load_mb": after_load,
        "after_plan_mb": after_plan,
        "loop_max_mb": max(samples),
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 * 1.048576,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--tokens", default="5000,50000,150000,300000")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.model, args.one)))
        return
    print(
        f"{'tokens':>7} {'batches':>7} {'longest':>7} {'largest batch: tokens':>21} {'B*S*S':>9} "
        f"{'RSS after load':>14} {'after plan':>10} {'in loop (max)':>13} {'peak RSS MB':>11}"
    )
    for tokens in args.tokens.split(","):
        r = in_fresh_process(__file__, "--model", args.model, "--one", tokens)
        print(
            f"{r['tokens']:>7} {r['batches']:>7} {r['longest']:>7} {r['max_batch_tokens']:>21} "
            f"{r['max_batch_entries']:>9} {r['after_load_mb']:>14.0f} {r['after_plan_mb']:>10.0f} "
            f"{r['loop_max_mb']:>13.0f} {r['peak_mb']:>11.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
