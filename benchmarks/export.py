"""`attentionviz export`: the size of a static site, by what its files are for, and the time to write it.

    python benchmarks/export.py RUN                     # e.g. ~/.cache/attentionviz/runs/demo-minilm-wikipedia-2500
    python benchmarks/export.py RUN --layers 0-1 --heads 0-3

Prints the files, bytes (the content) and the space on disk (small files take a whole block each),
split into the app, the run's tables, the Matrix View's layer frames, the Single View's head frames
(layouts, norms), the Sentence View's per-sequence attention (with value norms), the aggregates,
and an image run's images. The site goes to a temporary folder that is removed afterwards.
"""

from __future__ import annotations

import tempfile
import time
from collections import defaultdict
from pathlib import Path

from _shared import run_and_selection
from attentionviz.hosts.export.folder import export_site


def kind_of(path: Path, site: Path) -> str:
    parts = path.relative_to(site).parts
    if parts[0] != "api" or len(parts) < 4:
        return "app and run records"
    rest = parts[3:]
    if rest[0] in ("images", "patches.png"):
        return "images and patch atlas"
    if not rest[0].startswith("layers."):
        return "run tables (tokens, sequences, LOD order)"
    if rest[0].count(".") == 1:
        return "Matrix View layer frames"
    if len(rest) > 1 and rest[1] == "attention":
        return "per-sequence attention"
    if len(rest) > 1 and rest[1] == "aggregate":
        return "aggregate attention"
    return "Single View head frames (layouts, norms, record)"


def main() -> None:
    run, layers, heads = run_and_selection(__doc__)
    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder) / "site"
        start = time.perf_counter()
        summary = export_site(run.path, site, layers=layers, heads=heads)
        seconds = time.perf_counter() - start
        files: dict[str, int] = defaultdict(int)
        content: dict[str, int] = defaultdict(int)
        disk: dict[str, int] = defaultdict(int)
        for path in site.rglob("*"):
            if path.is_file():
                kind = kind_of(path, site)
                stat = path.stat()
                files[kind] += 1
                content[kind] += stat.st_size
                disk[kind] += stat.st_blocks * 512
    print(
        f"{run.path.name}: {run.info.n_tokens} tokens, {run.info.n_sequences} sequences, "
        f"{summary.heads} of {run.info.layers * run.info.heads} heads exported in {seconds:.1f} s"
    )
    print(f"{'part':<50} {'files':>7} {'MB':>8} {'MB on disk':>11}")
    for kind in sorted(content, key=content.__getitem__, reverse=True):
        print(f"{kind:<50} {files[kind]:>7} {content[kind] / 1e6:>8.1f} {disk[kind] / 1e6:>11.1f}")
    print(
        f"{'total':<50} {sum(files.values()):>7} {sum(content.values()) / 1e6:>8.1f} "
        f"{sum(disk.values()) / 1e6:>11.1f}"
    )


if __name__ == "__main__":
    main()
