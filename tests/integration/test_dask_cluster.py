"""`attentionviz embed --cluster` on a real Dask cluster: a `dask scheduler` and two `dask worker`
processes on the loopback interface, started in another directory than the embed (issue 16.4).

The embed is given a relative run path (the workers must still find the run), its layouts equal a
local embed's byte for byte, a worker killed mid-run costs nothing (the other one finishes the
run), and when every worker has gone, or the scheduler, the embed stops with one `error:` line
and keeps what it finished.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

import attentionviz as av
from tests.support.synthetic import make_synthetic_run

pytestmark = pytest.mark.slow

ENV = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "5s"}


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"waited {seconds:.0f} s for {what}")
        time.sleep(0.2)


class Cluster:
    """A scheduler and workers as separate processes, each in its own folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.dask = shutil.which("dask") or pytest.skip("the `dask` command is not installed")
        info = folder / "scheduler.json"
        self.scheduler = self._start(
            "scheduler",
            [
                "scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                "0",
                "--no-dashboard",
                "--scheduler-file",
                str(info),
            ],
        )
        wait_until(info.exists, 60, "the scheduler")
        self.address: str = json.loads(info.read_text())["address"]
        self.workers = [self.start_worker(i) for i in range(2)]
        wait_until(lambda: self.n_workers() == 2, 60, "two workers")

    def _start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        where = self.folder / name
        where.mkdir(parents=True, exist_ok=True)
        log = (where / "log.txt").open("wb")
        return subprocess.Popen(
            [self.dask, *args],
            cwd=where,
            env=ENV,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_worker(self, i: int) -> subprocess.Popen[bytes]:
        return self._start(
            f"worker-{i}",
            [
                "worker",
                self.address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
                "--local-directory",
                str(self.folder / f"worker-{i}"),
            ],
        )

    def n_workers(self) -> int:
        from distributed import Client

        with Client(self.address, timeout=10) as client:
            return len(client.nthreads())

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    pytest.importorskip("distributed")
    running = Cluster(tmp_path / "cluster")
    yield running
    running.stop()


def embed(where: Path, *args: str, background: bool = False) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "attentionviz", "embed", *args, "--quiet"]
    return subprocess.Popen(
        command, cwd=where, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finished(run: Path) -> int:
    return len(list(run.glob("heads/*/fidelity.json")))


def assert_same(first: Path, second: Path) -> None:
    a, b = av.open(first), av.open(second)
    for head in a.heads():
        other = b.head(head.layer, head.head)
        assert head.layouts() == other.layouts() and head.layouts()
        for method, dim in head.layouts():
            np.testing.assert_array_equal(head.layout(method, dim), other.layout(method, dim))
        assert head.fidelity == other.fidelity


def test_embed_on_a_real_dask_cluster(cluster: Cluster, tmp_path: Path) -> None:
    work = tmp_path / "work"
    for name in ("local", "dask", "killed", "lost"):
        make_synthetic_run(work / name, layers=2, heads=4, tokens=700, layouts=(), metrics=False, seed=5)

    local = embed(work, "local", "--workers", "2")
    assert local.wait(600) == 0, local.stderr.read() if local.stderr else ""
    on_cluster = embed(
        work, "dask", "--cluster", cluster.address
    )  # a path relative to here, not the workers'
    _, errors = on_cluster.communicate(timeout=600)
    assert on_cluster.returncode == 0, errors
    assert_same(work / "local", work / "dask")

    # a worker killed mid-run: the other one finishes the run, with the same results
    running = embed(work, "killed", "--cluster", cluster.address)
    wait_until(lambda: finished(work / "killed") >= 1, 300, "a first head")
    cluster.workers[0].send_signal(signal.SIGKILL)
    _, errors = running.communicate(timeout=600)
    assert running.returncode == 0, errors
    assert_same(work / "local", work / "killed")

    # every worker gone: one line, nothing lost
    running = embed(work, "lost", "--cluster", cluster.address)
    wait_until(lambda: finished(work / "lost") >= 1, 300, "a first head")
    cluster.workers[1].send_signal(signal.SIGKILL)
    kept = finished(work / "lost")
    _, errors = running.communicate(timeout=120)
    assert running.returncode == 2
    [line] = [line for line in errors.splitlines() if not line.startswith("WARNING")]
    assert line.startswith("error: every worker of the Dask cluster") and "dask worker" in line
    assert finished(work / "lost") >= kept
    for head in av.open(work / "lost").heads():
        for method, dim in head.layouts():
            assert np.isfinite(head.layout(method, dim)).all()

    # the scheduler gone: one line too
    running = embed(work, "lost", "--cluster", cluster.address)
    time.sleep(3)
    cluster.scheduler.send_signal(signal.SIGKILL)
    _, errors = running.communicate(timeout=120)
    assert running.returncode == 2
    [line] = [line for line in errors.splitlines() if not line.startswith("WARNING")]
    assert line.startswith("error: ") and "Dask scheduler" in line
