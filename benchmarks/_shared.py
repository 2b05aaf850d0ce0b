"""Pieces several benchmark scripts share (imported as `_shared`: a script's folder is on sys.path)."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # synthetic runs are test support (tests.support.synthetic), not the package
    sys.path.insert(0, str(ROOT))


def in_fresh_process(script: str, *args: str) -> dict[str, Any]:
    """Run `python SCRIPT ARGS` (so peak RSS is its own) and return the JSON its last line prints."""
    result = subprocess.run([sys.executable, script, *args], capture_output=True, text=True, check=True)
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def run_and_selection(doc: str) -> tuple[Any, list[int] | None, list[int] | None]:
    """Parse `RUN [--layers L] [--heads H]`: the opened run and the selected layers and heads."""
    from attentionviz.cli import parse_ranges
    from attentionviz.store.reader import Run

    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--layers")
    parser.add_argument("--heads")
    args = parser.parse_args()
    run = Run(args.run)
    layers = parse_ranges(args.layers, "layers")
    heads = parse_ranges(args.heads, "heads")
    return run, layers, heads
