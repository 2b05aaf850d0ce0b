"""`attentionviz embed --cluster` on a real Dask cluster: a `dask scheduler` and two `dask worker`
processes on the loopback interface, started in another directory than the embed (issue 16.4).

The embed is given a relative run path (the workers must still find the run), its layouts equal a
local embed's byte for byte, a worker killed mid-run costs nothing (the other one finishes the
run), and when every worker has gone, or the scheduler, the embed stops with one `error:` line
and keeps what it finished.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

import attentionviz as av
from tests.support.dask_cluster import DaskCluster
from tests.support.processes import wait_until
from tests.support.synthetic import make_synthetic_run

pytestmark = pytest.mark.slow

ENV = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "5s"}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[DaskCluster]:
    pytest.importorskip("distributed")
    if shutil.which("dask") is None:
        pytest.skip("the `dask` command is not installed")
    running = DaskCluster(tmp_path / "cluster", workers=2, env=ENV)
    yield running
    running.stop()


def embed(where: Path, *args: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "attentionviz", "embed", *args, "--quiet"]
    return subprocess.Popen(
        command, cwd=where, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(run: Path) -> int:
    return len(list(run.glob("heads/*/fidelity.json")))


def succeeds(running: subprocess.Popen[str]) -> None:
    _, errors = running.communicate(timeout=600)
    assert running.returncode == 0, errors


def one_line_error(running: subprocess.Popen[str]) -> str:
    """The one line a failed embed prints (besides warnings), after it exits with code 2."""
    _, errors = running.communicate(timeout=120)
    assert running.returncode == 2, errors
    [line] = [line for line in errors.splitlines() if not line.startswith("WARNING")]
    return line


def assert_same(first: Path, second: Path) -> None:
    a, b = av.open(first), av.open(second)
    for head in a.heads():
        other = b.head(head.layer, head.head)
        assert head.layouts() == other.layouts() and head.layouts()
        for method, dim in head.layouts():
            np.testing.assert_array_equal(head.layout(method, dim), other.layout(method, dim))
        assert head.fidelity == other.fidelity


def test_embed_on_a_real_dask_cluster(cluster: DaskCluster, tmp_path: Path) -> None:
    work = tmp_path / "work"
    for name in ("local", "dask", "killed", "lost"):
        make_synthetic_run(work / name, layers=2, heads=4, tokens=700, layouts=(), metrics=False, seed=5)

    succeeds(embed(work, "local", "--workers", "2"))
    succeeds(embed(work, "dask", "--cluster", cluster.address))  # a path relative to here, not the workers'
    assert_same(work / "local", work / "dask")

    # a worker killed mid-run: the other one finishes the run, with the same results
    running = embed(work, "killed", "--cluster", cluster.address)
    wait_until(lambda: finished(work / "killed") >= 1, 300, "a first head")
    cluster.workers[0].send_signal(signal.SIGKILL)
    succeeds(running)
    assert_same(work / "local", work / "killed")

    # every worker gone: one line, nothing lost
    running = embed(work, "lost", "--cluster", cluster.address)
    wait_until(lambda: finished(work / "lost") >= 1, 300, "a first head")
    cluster.workers[1].send_signal(signal.SIGKILL)
    kept = finished(work / "lost")
    line = one_line_error(running)
    assert line.startswith("error: every worker of the Dask cluster") and "dask worker" in line
    assert finished(work / "lost") >= kept
    for head in av.open(work / "lost").heads():
        for method, dim in head.layouts():
            assert np.isfinite(head.layout(method, dim)).all()

    # the scheduler gone: one line too
    running = embed(work, "lost", "--cluster", cluster.address)
    time.sleep(3)
    cluster.scheduler.send_signal(signal.SIGKILL)
    line = one_line_error(running)
    assert line.startswith("error: ") and "Dask scheduler" in line
