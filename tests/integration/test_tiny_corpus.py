"""A corpus of one or two sentences builds (issue 14.2): a quality measure that needs more points is
left out with a note, and a layout that cannot be made says why in one line, from the CLI and
from Python. (It used to end in `ValueError: trustworthiness needs more than 46 points, got 30`,
raised from a layout worker.)"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

import attentionviz as av
from tests.support.synthetic import make_synthetic_run

pytestmark = pytest.mark.slow

TWO_LINES = "\ufeffHello there.\r\nGood.\r\n".encode()  # a BOM and CRLF endings, as Windows editors write


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "attentionviz", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )


def test_a_two_sentence_corpus_builds_from_the_cli(tmp_path: Path) -> None:
    (tmp_path / "tiny.txt").write_bytes(TWO_LINES)
    done = cli("build", "minilm", "tiny.txt", "-o", "runs/tiny", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    notes = [line for line in done.stderr.splitlines() if "left out" in line]
    assert notes and all("trustworthiness" in line for line in notes), done.stderr
    run = av.open(tmp_path / "runs" / "tiny")
    assert run.info.n_sequences == 2
    assert all({("tsne", 2), ("umap", 2), ("umap", 3), ("pca", 2)} <= set(h.layouts()) for h in run.heads())
    info = cli("info", "runs/tiny", cwd=tmp_path)
    assert info.returncode == 0 and "trustworthiness left out" in info.stdout


def test_a_one_sentence_corpus_builds_from_python(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    corpus = tmp_path / "one.txt"
    corpus.write_bytes("\ufeffThe cat sat.\r\n".encode())
    with caplog.at_level(logging.WARNING):
        run = av.build("minilm", corpus, out=tmp_path / "one", workers=2)
    assert run.info.n_sequences == 1
    head = run.head(0, 0)
    assert ("tsne", 2) in head.layouts() and head.metrics
    assert any("trustworthiness left out" in record.getMessage() for record in caplog.records)
    assert "trustworthiness left out" in str(run)


def test_a_layout_a_run_is_too_small_for_says_why_in_one_line(tmp_path: Path) -> None:
    run = make_synthetic_run(tmp_path / "one-token", layers=1, heads=2, tokens=1, seq_len=(1, 1), layouts=())
    done = cli("embed", str(run.path), "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert "Traceback" not in done.stderr
    for key in ("tsne.2d", "umap.2d", "umap.3d"):
        [line] = [line for line in lines if line.split(": ", 1)[-1].startswith(f"{key} left out")]
        assert "points per head" in line and "more text" in line
    assert set(av.open(run.path).head(0, 1).layouts()) == {("pca", 2), ("pca", 3)}
