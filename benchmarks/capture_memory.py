"""Capture's resident memory against corpus size: where it goes, and whether it levels off.

    python benchmarks/capture_memory.py                          # MiniLM at 5k..300k tokens
    python benchmarks/capture_memory.py --model smollm2 --tokens 5000,50000
    python benchmarks/capture_memory.py --model smollm2 --long 4096     # one 4,096-token sequence

Each size runs in a fresh process. It prints the resident memory (RSS) after loading the model,
after planning (sampling, tokenising, batching) and once the capture loop is under way, the
process's peak RSS, and the largest batch the plan made: its padded tokens and its attention
entries per head (B * S * S), the two quantities `--batch-tokens` and the attention budget cap.
Peak memory should follow the largest batch, not the corpus: once the sample is big enough to
fill a batch to the budgets, it should stay level.

`--long N` captures one sequence of exactly N tokens (Wikipedia summaries joined into one
document): its attention is [heads, N, N] per layer, which the capture computes a block of query
rows at a time (within the attention budget) and never stores, so the peak stays near that of a
batch of short sequences. `--budget` sets the attention budget (entries per head), to compare.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import tempfile
from pathlib import Path
from typing import Any

from _shared import in_fresh_process


def _rss_mb() -> float:
    """Current resident memory (MB)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 1e6


def long_document(tokenizer: Any, n_tokens: int, folder: Path) -> Path:
    """A one-line text file the tokenizer makes exactly `n_tokens` tokens of (special tokens included)."""
    from attentionviz.corpus import open_corpus

    words: list[str] = []
    for item in open_corpus("wikipedia"):
        words += item.text.split()
        if len(words) > 2 * n_tokens:
            break
    low, high = 0, len(words)  # the most words that stay within n_tokens
    while low < high:
        middle = (low + high + 1) // 2
        if len(tokenizer(" ".join(words[:middle]))["input_ids"]) <= n_tokens:
            low = middle
        else:
            high = middle - 1
    text = " ".join(words[:low])
    path = folder / "long.txt"
    path.write_text(text + "\n", encoding="utf-8")
    return path


def measure(
    model_name: str, max_tokens: int, *, long: int | None = None, budget: int | None = None
) -> dict[str, float]:
    from attentionviz.capture import loading
    from attentionviz.capture.architectures import family_for
    from attentionviz.capture.model_facts import model_facts
    from attentionviz.capture.pipeline import capture, plan
    from attentionviz.corpus import open_corpus
    from attentionviz.options import BuildOptions

    loaded = loading.load(model_name)
    after_load = _rss_mb()
    scratch = Path(tempfile.mkdtemp(prefix="avmem-"))
    settings = {} if budget is None else {"attention_budget": budget}
    if long:
        corpus = open_corpus(long_document(loaded.tokenizer, long, scratch), split="line")
        options = BuildOptions(max_tokens=None, max_length=long, layouts=(), split="line", **settings)
    else:
        corpus = open_corpus("wikipedia")
        options = BuildOptions(max_tokens=max_tokens, layouts=(), **settings)
    facts = model_facts(loaded.model, family_for(loaded.model.config.model_type))
    work = plan(loaded, corpus, facts, options)
    after_plan = _rss_mb()
    padded = [len(batch) * int(work.lengths[batch].max()) for batch in work.batches]
    entries = [len(batch) * int(work.lengths[batch].max()) ** 2 for batch in work.batches]
    samples: list[float] = []
    out = scratch / "run"
    try:
        capture(loaded, corpus, out, options, progress=lambda *_: samples.append(_rss_mb()))
    finally:
        shutil.rmtree(scratch)
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
    parser.add_argument("--long", type=int, help="one sequence of this many tokens instead")
    parser.add_argument("--budget", type=int, help="attention budget (entries per head in a batch)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.model, args.one, long=args.long, budget=args.budget)))
        return
    extra = [
        *(["--long", str(args.long)] if args.long else []),
        *(["--budget", str(args.budget)] if args.budget else []),
    ]
    print(
        f"{'tokens':>7} {'batches':>7} {'longest':>7} {'largest batch: tokens':>21} {'B*S*S':>9} "
        f"{'RSS after load':>14} {'after plan':>10} {'in loop (max)':>13} {'peak RSS MB':>11}"
    )
    for tokens in [str(args.long)] if args.long else args.tokens.split(","):
        r = in_fresh_process(__file__, "--model", args.model, "--one", tokens, *extra)
        print(
            f"{r['tokens']:>7} {r['batches']:>7} {r['longest']:>7} {r['max_batch_tokens']:>21} "
            f"{r['max_batch_entries']:>9} {r['after_load_mb']:>14.0f} {r['after_plan_mb']:>10.0f} "
            f"{r['loop_max_mb']:>13.0f} {r['peak_mb']:>11.0f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
