"""Where capture's overhead goes: plain forward, capture, and capture with the writes switched off.

    python benchmarks/capture_parts.py --model smollm2 --tokens 20000 --rounds 2

In one process it alternates the three over the same batches and prints the best round of each
against the plain forward pass (the model's default SDPA attention). The capture runs its longest
batch first and the timing starts after it (past the one-off check against eager attention), so
the plain pass skips that batch too. `benchmarks/capture.py` gives the end-to-end figures.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default="minilm")
    parser.add_argument("--tokens", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    import torch

    from attentionviz.capture import loading, pipeline
    from attentionviz.capture.architectures import family_for
    from attentionviz.capture.model_facts import model_facts
    from attentionviz.corpus import open_corpus
    from attentionviz.options import BuildOptions

    loaded = loading.load(args.model)
    corpus = open_corpus("wikipedia")
    options = BuildOptions(max_tokens=args.tokens, layouts=())
    facts = model_facts(loaded.model, family_for(loaded.model.config.model_type))
    work = pipeline.plan(loaded, corpus, facts, options)
    write_layer = pipeline._write_layer

    def plain() -> float:
        begin = time.perf_counter()
        with torch.inference_mode():
            for members in work.batches[:-1]:
                batch = [work.sequences[i] for i in members]
                loaded.model(**pipeline._forward_inputs(loaded, batch, members, None))
        return time.perf_counter() - begin

    def captured(write: bool) -> float:
        pipeline._write_layer = write_layer if write else (lambda *_: None)  # type: ignore[assignment]
        out = Path(tempfile.mkdtemp(prefix="avparts-")) / "run"
        marks: list[float] = []
        try:
            pipeline.capture(
                loaded, corpus, out, options, progress=lambda *_: marks.append(time.perf_counter())
            )
        finally:
            pipeline._write_layer = write_layer  # type: ignore[assignment]
            shutil.rmtree(out.parent)
        return marks[-1] - marks[1]  # from the end of the first (longest) batch

    runs: dict[str, Any] = {
        "plain forward": plain,
        "capture": lambda: captured(True),
        "capture, no writes": lambda: captured(False),
    }
    plain()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):  # alternate, so load on a shared machine falls on all three alike
        for name, run in runs.items():
            times[name].append(run())
    best = {name: min(values) for name, values in times.items()}
    print(f"{args.model}, {int(work.lengths.sum())} tokens, best of {args.rounds}")
    for name, seconds in best.items():
        print(f"{name:20} {seconds:7.2f} s  {seconds / best['plain forward'] - 1:+7.1%}")


if __name__ == "__main__":
    main()
