"""kill -9 `attentionviz embed` at random points, rerun it: the layouts equal an uninterrupted embed."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.support.interrupt import kill_when
from tests.support.synthetic import make_synthetic_run

LAYERS, HEADS = 3, 4


def embed_command(run: Path) -> list[str]:
    return [
        sys.executable, "-m", "attentionviz", "embed", str(run),
        "--layouts", "tsne", "--dims", "2", "--workers", "1", "--quiet",
    ]  # fmt: skip


def heads_done(run: Path) -> int:
    return len(list((run / "heads").glob("*/tsne.2d.npy")))


@pytest.fixture(scope="module")
def captured(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A captured run with no layouts yet."""
    out = tmp_path_factory.mktemp("embed-resume") / "run"
    make_synthetic_run(out, layers=LAYERS, heads=HEADS, tokens=200, layouts=(), metrics=False)
    return out


@pytest.fixture(scope="module")
def reference(captured: Path) -> Path:
    out = captured.with_name("reference")
    shutil.copytree(captured, out)
    subprocess.run(embed_command(out), check=True, timeout=300)
    return out


def test_kill_9_during_embed_then_rerun_equals_uninterrupted(
    captured: Path, reference: Path, tmp_path: Path
) -> None:
    seed = random.SystemRandom().randrange(1 << 30)
    rng = random.Random(seed)
    run = tmp_path / "run"
    shutil.copytree(captured, run)
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    kills = 0
    for _ in range(2):
        kills += kill_when(
            embed_command(run),
            progress=lambda: heads_done(run),
            target=heads_done(run) + rng.randint(1, 3),
            busy_seconds=rng.uniform(0, 0.3),  # anywhere inside the next head
            env=env,
        )
    assert kills >= 1, f"embed outran the kills (seed {seed}); give the run more heads"
    subprocess.run(embed_command(run), check=True, env=env, timeout=300)

    assert heads_done(run) == heads_done(reference) == LAYERS * HEADS
    for expected in sorted((reference / "heads").rglob("*")):
        got = run / expected.relative_to(reference)
        if expected.suffix == ".npy":
            np.testing.assert_array_equal(np.load(got), np.load(expected), err_msg=f"{got} (seed {seed})")
        elif expected.suffix == ".json":
            assert without_timings(got) == without_timings(expected), f"{got} (seed {seed})"
    verify = subprocess.run(
        [sys.executable, "-m", "attentionviz", "verify", str(run)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stderr


def without_timings(path: Path) -> object:
    def strip(value: object) -> object:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if "second" not in k and "time" not in k}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(json.loads(path.read_text()))
