"""`attentionviz compare` and the scrubbing transforms: where the time goes.

    python benchmarks/compare.py RUN_A RUN_B [--max-tokens 5000] [--repeat 2]

Prints, per repetition: the shared corpus (pairing sequences by token ids), the attention part
(derived attention of every head over the sampled shared sequences, Jensen-Shannon per query), the
layout part (Procrustes of every head's layout), and what the app asks the server for: the
comparison record (cached after its first request), B's heads laid over A's, and one run's
layer/head scrubbing transforms. Timings on a shared machine are noisy: compare the best of the
repetitions.
"""

from __future__ import annotations

import argparse
import time

from attentionviz.analysis import compare
from attentionviz.api import open as open_run
from attentionviz.readmodel import compare as payloads
from attentionviz.readmodel.registry import RunRegistry
from attentionviz.readmodel.scope import Scope


def seconds(func: object, *args: object, **kwargs: object) -> tuple[float, object]:
    start = time.perf_counter()
    result = func(*args, **kwargs)  # type: ignore[operator]
    return time.perf_counter() - start, result


def every_head(a: object, b: object, part: object, *args: object) -> list[float]:
    info = a.info  # type: ignore[attr-defined]
    return [
        part(a.head(layer, head), b.head(layer, head), *args)  # type: ignore[attr-defined, operator]
        for layer in range(info.layers)
        for head in range(info.heads)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("run_a")
    parser.add_argument("run_b")
    parser.add_argument("--max-tokens", type=int, default=compare.DEFAULT_MAX_TOKENS)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    a, b = open_run(args.run_a), open_run(args.run_b)
    heads = a.info.layers * a.info.heads
    print(f"A {a.path.name}: {a.info.model}, {heads} heads, {a.info.n_tokens:,} tokens")
    print(f"B {b.path.name}: {b.info.model}, {b.info.n_tokens:,} tokens")
    for repetition in range(1, args.repeat + 1):
        t_shared, shared = seconds(compare.shared_corpus, a, b)
        seq_a, seq_b = compare.sample_sequences(shared, a, args.max_tokens)
        t_attention, _ = seconds(every_head, a, b, compare.attention_change, seq_a, seq_b)
        layout = compare.common_layout(a, b)
        t_layout, _ = (
            seconds(every_head, a, b, compare.layout_change, layout, shared) if layout else (0.0, None)
        )
        scope = Scope(RunRegistry([a.path, b.path]))
        id_a, id_b = scope.registry.id_of(a.path), scope.registry.id_of(b.path)
        t_record, _ = seconds(payloads.comparison, scope, id_a, id_b)
        t_cached, _ = seconds(payloads.comparison, scope, id_a, id_b)
        t_aligned, _ = (
            seconds(payloads.compare_alignments, scope, id_a, id_b, layout) if layout else (0.0, None)
        )
        t_scrub, _ = seconds(payloads.run_alignments, scope, id_a, layout) if layout else (0.0, None)
        compared = int(a.sequences["n_tokens"].to_numpy()[seq_a].sum())
        print(
            f"[{repetition}] shared corpus {t_shared:.2f} s ({shared.n_sequences} sequences, {shared.n_tokens:,} tokens); "
            f"attention part {t_attention:.2f} s over {compared:,} tokens ({1e3 * t_attention / heads:.1f} ms/head); "
            f"layout part ({layout}) {t_layout:.2f} s; comparison record {t_record:.2f} s (cached {1e3 * t_cached:.1f} ms); "
            f"B laid over A {t_aligned:.2f} s; scrubbing transforms {t_scrub:.2f} s"
        )
        payloads._compared.cache_clear()
        payloads._shared.cache_clear()


if __name__ == "__main__":
    main()
