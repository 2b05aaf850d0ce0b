"""kill -9 in the middle of a build, run the same command again: the run equals an uninterrupted one."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import attentionviz as av
from tests.support.interrupt import kill_when
from tests.support.tiny_models import TEXT_MODELS

N_SENTENCES = 120


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory: pytest.TempPathFactory, minilm: Any) -> Path:
    """A tiny Llama (grouped-query) saved as a model folder, with the MiniLM tokenizer."""
    folder = tmp_path_factory.mktemp("tiny-llama")
    TEXT_MODELS["llama-gqa"]().save_pretrained(folder)
    minilm.tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def long_corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = np.random.default_rng(1)
    words = [
        "the",
        "a",
        "river",
        "town",
        "people",
        "moved",
        "hills",
        "in",
        "april",
        "flood",
        "rain",
        "city",
        "north",
        "south",
        "old",
        "new",
    ]
    lines = [
        " ".join(rng.choice(words, size=rng.integers(4, 30))).capitalize() + "." for _ in range(N_SENTENCES)
    ]
    path = tmp_path_factory.mktemp("long") / "corpus.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def reference(model_folder: Path, long_corpus: Path, tmp_path_factory: pytest.TempPathFactory) -> av.Run:
    """The same build, never interrupted."""
    out = tmp_path_factory.mktemp("reference") / "run"
    subprocess.run(build_command(model_folder, long_corpus, out), check=True, timeout=300)
    return av.open(out)


def build_command(model: Path, corpus: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "attentionviz",
        "build",
        str(model),
        str(corpus),
        "-o",
        str(out),
        "--split",
        "line",
        "--max-tokens",
        "0",
        "--batch-tokens",
        "48",
        "--layouts",
        "none",
        "--quiet",
    ]


def done_batches(out: Path) -> int:
    state = out.with_name(out.name + ".partial") / "build-state.json"
    try:
        return len(json.loads(state.read_text())["done"])
    except (FileNotFoundError, ValueError, KeyError):
        return 0


def assert_same_run(a: av.Run, b: av.Run) -> None:
    """Every captured array identical; the aggregate to float precision (a resumed build adds the
    batches finished before from their stored q and k, not from the weights the model computed)."""
    assert a.manifest.arrays.keys() == b.manifest.arrays.keys()
    for name, described in a.manifest.arrays.items():
        if name.endswith(".aggregate"):
            np.testing.assert_allclose(a.array(name), b.array(name), atol=1e-6, err_msg=name)
            continue
        assert described["sha256"] == b.manifest.arrays[name]["sha256"], name
        np.testing.assert_array_equal(a.array(name), b.array(name))
    pd.testing.assert_frame_equal(a.tokens, b.tokens)
    pd.testing.assert_frame_equal(a.sequences, b.sequences)


@pytest.mark.parametrize("kill_after", [1, 6], ids=["after-1", "after-6"])
def test_kill_9_then_rerun_equals_uninterrupted(
    model_folder: Path, long_corpus: Path, reference: av.Run, tmp_path: Path, kill_after: int
) -> None:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    out = tmp_path / "interrupted"
    killed = kill_when(
        build_command(model_folder, long_corpus, out),
        progress=lambda: done_batches(out),
        target=kill_after,
        env=env,
    )
    assert killed, "the build finished before it could be interrupted; make the corpus longer"
    assert not (out / "manifest.json").exists(), "an interrupted build must not look finished"
    with pytest.raises(av.AttentionVizError, match="not finished"):
        av.open(out)

    subprocess.run(build_command(model_folder, long_corpus, out), check=True, env=env, timeout=300)
    assert_same_run(reference, av.open(out))
    assert not out.with_name(out.name + ".partial").exists()


def test_kill_9_at_several_random_points_then_rerun_equals_uninterrupted(
    model_folder: Path, long_corpus: Path, reference: av.Run, tmp_path: Path
) -> None:
    """Kill the same build again and again (during resumes too), at random batches and mid-batch."""
    import random

    seed = random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    out = tmp_path / "interrupted"
    kills = 0
    for _ in range(2):  # two random points: the second kill lands inside a resumed build
        kills += kill_when(
            build_command(model_folder, long_corpus, out),
            progress=lambda: done_batches(out),
            target=done_batches(out) + rng.randint(1, 12),
            busy_seconds=rng.uniform(0, 0.05),  # land anywhere in the next batch
            env=env,
        )
    assert kills >= 2, f"the build outran the kills (seed {seed}); make the corpus longer"
    subprocess.run(build_command(model_folder, long_corpus, out), check=True, env=env, timeout=300)
    assert_same_run(reference, av.open(out))
    assert not out.with_name(out.name + ".partial").exists(), f"seed {seed}"
