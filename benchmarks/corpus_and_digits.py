"""Corpus reading speed, and the digits ViT's training time and accuracy.

    python benchmarks/corpus_and_digits.py              # both
    python benchmarks/corpus_and_digits.py --no-train   # corpus reading only

Corpus: sequences/s and MB/s for the Wikipedia demo corpus (sentences) and a generated 50 MB
text file (sentences and lines), with tracemalloc's peak. Digits ViT: trains it into a temporary
cache (as a fresh machine would), then times the cached call.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import tracemalloc
from pathlib import Path


def read(source: str | Path, split: str) -> tuple[int, float, float]:
    from attentionviz.corpus import open_corpus

    tracemalloc.start()
    start = time.perf_counter()
    count = sum(1 for _ in open_corpus(source, split=split))
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return count, seconds, peak / 2**20


def corpus_figures() -> None:
    from attentionviz.corpus.demo import wikipedia_summaries_path

    size = wikipedia_summaries_path().stat().st_size / 1e6
    count, seconds, peak = read("wikipedia", "sentence")
    print(
        f"wikipedia  sentence: {count:>9,} seq in {seconds:5.2f} s  {count / seconds:>9,.0f} seq/s  "
        f"{size / seconds:5.1f} MB/s  peak {peak:5.1f} MiB"
    )
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "big.txt"
        paragraph = "The quick brown fox jumps over the lazy dog near the bank at 5 p.m. today. " * 40
        with path.open("w", encoding="utf-8") as handle:
            while handle.tell() < 50 * 2**20:
                handle.write(paragraph + "\n\n")
        size = path.stat().st_size / 1e6
        for split in ("sentence", "line", "paragraph"):
            count, seconds, peak = read(path, split)
            print(
                f"50 MB text {split:>8}: {count:>9,} seq in {seconds:5.2f} s  {count / seconds:>9,.0f} seq/s  "
                f"{size / seconds:5.1f} MB/s  peak {peak:5.1f} MiB"
            )


def digits_figures() -> None:
    from attentionviz.vision import digits_vit, training_report

    with tempfile.TemporaryDirectory() as cache:
        start = time.perf_counter()
        path = digits_vit(cache)
        first = time.perf_counter() - start
        start = time.perf_counter()
        digits_vit(cache)
        cached = time.perf_counter() - start
        report = training_report(path)
    print(
        f"digits ViT: test accuracy {report['accuracy']:.4f} on {report['n_test']} held-out digits; "
        f"training {report['seconds']:.1f} s, first call {first:.1f} s (imports, data, training, saving), "
        f"cached call {cached * 1000:.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-train", action="store_true", help="skip training the digits ViT")
    args = parser.parse_args()
    corpus_figures()
    if not args.no_train:
        digits_figures()


if __name__ == "__main__":
    main()
