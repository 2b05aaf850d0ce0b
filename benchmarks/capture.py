"""Capture throughput against a plain forward pass, and peak memory, for the two offline models.

    python benchmarks/capture.py                 # MiniLM and SmolLM2 at 5k and 50k tokens
    python benchmarks/capture.py --models minilm --tokens 5000

Each configuration runs in a fresh process (so peak RSS is its own). In one process it alternates,
`--rounds` times, the model's plain forward pass (its default SDPA attention, no capture) over
exactly the batches the capture uses, and the whole capture (forward with the capture function,
writing every layer's q, k and value norms to a fresh run folder and summing its aggregate, up to
the `fdatasync` that makes them durable; it includes the one-off check against eager attention).
Planning before it and the checksums after it are left out of that figure and counted in "whole
build". It reports the best round of each (wall clock, and CPU seconds of the process), so that
other work on a shared machine inflates both sides alike and the ratio stays meaningful.

"B/token" is the run's captured arrays per token; "schema 1" what the same capture stored before
attention was derived from q and k (q, k, value norms in float32 and every sequence's attention:
layers x heads x sum(len**2) x 4 bytes more). "writes" is the share of the capture loop's CPU time
spent writing (`pwrite`): the most any cleverer writer (direct I/O, a writer thread) could win.

The capture keeps freed memory in the heap while it runs (`capture/heap.py`), which also speeds up
the forward pass itself. "overhead" compares it with the plain forward pass as a user runs it
(glibc's default thresholds); "(same heap)" with a plain pass under the same heap setting, i.e.
what capturing costs beyond that.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from _shared import in_fresh_process


def measure(model_name: str, max_tokens: int, rounds: int) -> dict[str, float]:
    import numpy as np
    import torch

    from attentionviz.capture import loading, pipeline
    from attentionviz.capture.architectures import family_for
    from attentionviz.capture.heap import heap_kept
    from attentionviz.capture.model_facts import model_facts
    from attentionviz.capture.pipeline import _forward_inputs, capture, plan
    from attentionviz.corpus import open_corpus
    from attentionviz.options import BuildOptions
    from attentionviz.store.array_file import ArrayFile
    from attentionviz.store.writer import CaptureWriter

    loaded = loading.load(model_name)
    corpus = open_corpus("wikipedia")
    options = BuildOptions(max_tokens=max_tokens, layouts=())
    facts = model_facts(loaded.model, family_for(loaded.model.config.model_type))
    started = time.perf_counter()
    work = plan(loaded, corpus, facts, options)
    plan_seconds = time.perf_counter() - started
    n_tokens = int(work.lengths.sum())
    unpatched_sync = CaptureWriter.sync
    unpatched_write = ArrayFile.write_block
    unpatched_check = pipeline._check_against_eager
    writing: list[float] = []

    def write_block(self: ArrayFile, block: object, start: int) -> None:
        began = time.process_time()
        unpatched_write(self, block, start)  # type: ignore[arg-type]
        writing.append(time.process_time() - began)

    def plain_pass(*, kept: bool) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        with torch.inference_mode(), heap_kept() if kept else contextlib.nullcontext():
            for members in work.batches:
                batch = [work.sequences[i] for i in members]
                loaded.model(**_forward_inputs(loaded, batch, members, None))
        return time.perf_counter() - wall, time.process_time() - cpu

    def capture_pass() -> tuple[float, float, float, int, float]:
        out = Path(tempfile.mkdtemp(prefix="avbench-")) / "run"
        writing.clear()
        marks: list[tuple[float, float]] = []
        synced: list[tuple[float, float]] = []

        def sync(writer: CaptureWriter) -> None:  # the loop ends once every array is durable
            unpatched_sync(writer)
            synced.append((time.perf_counter(), time.process_time()))

        def check(*args: Any) -> Any:  # and begins with the check against eager attention, after planning
            marks.append((time.perf_counter(), time.process_time()))
            return unpatched_check(*args)

        begin = time.perf_counter()
        CaptureWriter.sync = sync  # type: ignore[method-assign]
        ArrayFile.write_block = write_block  # type: ignore[method-assign]
        pipeline._check_against_eager = check
        try:
            capture(
                loaded,
                corpus,
                out,
                options,
                progress=lambda done, total: marks.append((time.perf_counter(), time.process_time())),
            )
        finally:
            CaptureWriter.sync = unpatched_sync  # type: ignore[method-assign]
            ArrayFile.write_block = unpatched_write  # type: ignore[method-assign]
            pipeline._check_against_eager = unpatched_check
        total = time.perf_counter() - begin
        size = sum(p.stat().st_size for p in (out / "capture").rglob("*.npy"))
        shutil.rmtree(out.parent)
        # from the check (after planning) until the arrays are synced
        loop_cpu = synced[-1][1] - marks[0][1]
        return synced[-1][0] - marks[0][0], loop_cpu, total, size, sum(writing) / loop_cpu

    plain_pass(kept=False)  # warm-up: allocator, kernels
    plain, plain_kept, captured = [], [], []
    for _ in range(rounds):
        plain.append(plain_pass(kept=False))
        plain_kept.append(plain_pass(kept=True))
        captured.append(capture_pass())
    forward_seconds, forward_cpu = min(p[0] for p in plain), min(p[1] for p in plain)
    kept_seconds = min(p[0] for p in plain_kept)
    loop_seconds, loop_cpu = min(c[0] for c in captured), min(c[1] for c in captured)
    total_seconds, size = min(c[2] for c in captured), captured[0][3]
    lengths = work.lengths.astype(np.int64)
    per_layer = 4 * (facts.n_heads * facts.head_dim + facts.n_kv_heads * (facts.head_dim + 1))
    schema_1 = facts.n_layers * (per_layer * n_tokens + 4 * facts.n_heads * int((lengths**2).sum()))
    return {
        "tokens": n_tokens,
        "batches": len(work.batches),
        "plan_s": plan_seconds,
        "forward_tok_s": n_tokens / forward_seconds,
        "capture_loop_tok_s": n_tokens / loop_seconds,
        "capture_total_tok_s": n_tokens / total_seconds,
        "overhead_loop": loop_seconds / forward_seconds - 1,
        "overhead_cpu": loop_cpu / forward_cpu - 1,
        "overhead_same_heap": loop_seconds / kept_seconds - 1,
        "run_mb": size / 1e6,
        "bytes_per_token": size / n_tokens,
        "schema_1_bytes_per_token": schema_1 / n_tokens,
        "writes": min(c[4] for c in captured),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--models", default="minilm,smollm2")
    parser.add_argument("--tokens", default="5000,50000")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating plain/capture rounds (best is kept)"
    )
    parser.add_argument("--one", nargs=2, metavar=("MODEL", "TOKENS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], int(args.one[1]), args.rounds)))
        return
    header = (
        f"{'model':8} {'tokens':>7} {'forward tok/s':>13} {'capture tok/s':>13} {'overhead':>8} {'(CPU s)':>8} "
        f"{'(same heap)':>11} {'writes':>6} "
        f"{'whole build':>16} {'run MB':>8} {'B/token':>8} {'schema 1':>9} {'peak RSS MB':>11}"
    )
    print(f"load average {' '.join(f'{x:.1f}' for x in os.getloadavg())}; best of {args.rounds} rounds")
    print(header)
    for model in args.models.split(","):
        for tokens in args.tokens.split(","):
            r = in_fresh_process(__file__, "--one", model, tokens, "--rounds", str(args.rounds))
            print(
                f"{model:8} {r['tokens']:>7} {r['forward_tok_s']:>13.0f} {r['capture_loop_tok_s']:>13.0f} "
                f"{r['overhead_loop']:>+8.1%} {r['overhead_cpu']:>+8.1%} "
                f"{r['overhead_same_heap']:>+11.1%} {r['writes']:>6.1%} {r['capture_total_tok_s']:>12.0f} tok/s "
                f"{r['run_mb']:>8.0f} {r['bytes_per_token']:>8.0f} {r['schema_1_bytes_per_token']:>9.0f} "
                f"{r['peak_rss_mb']:>11.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
