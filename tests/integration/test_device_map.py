"""A model larger than its device: `attentionviz build --device-map auto --max-memory ... --offload-folder`
loads it with accelerate's big-model loading, and the capture equals the in-memory one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import attentionviz as av

pytestmark = pytest.mark.slow


def test_smollm2_offloaded_to_disk_captures_what_it_captures_in_memory(
    smollm2: Any, sentences: list[str], tmp_path: Path
) -> None:
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(sentences[:3]) + "\n", encoding="utf-8")
    in_memory = av.build(
        smollm2.model,
        corpus,
        tokenizer=smollm2.tokenizer,
        out=tmp_path / "memory",
        max_tokens=None,
        layouts=(),
        split="line",
    )
    out = tmp_path / "offloaded"
    command = [
        sys.executable, "-m", "attentionviz", "-v", "build", "smollm2", str(corpus), "-o", str(out),
        "--split", "line", "--max-tokens", "0", "--layouts", "none", "--quiet",
        "--device-map", "auto", "--max-memory", "cpu=150MB", "--offload-folder", str(tmp_path / "offload"),
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "'disk'" in result.stderr, "the layers that did not fit in 150 MB were read from disk"
    offloaded = av.open(out)
    assert offloaded.manifest.arrays.keys() == in_memory.manifest.arrays.keys()
    for name in offloaded.manifest.arrays:
        np.testing.assert_array_equal(offloaded.array(name), in_memory.array(name), err_msg=name)


def test_device_map_options_without_a_device_map_are_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "attentionviz", "build", "smollm2", "wikipedia", "-o", str(tmp_path / "run"),
         "--max-memory", "cpu=1GiB"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "error: --max-memory and --offload-folder apply with --device-map; pass --device-map auto"
    )
