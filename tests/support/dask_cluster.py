"""A real Dask cluster for tests and benchmarks: a `dask scheduler` and `dask worker` processes on
the loopback interface, each started in its own folder (not the caller's working directory)."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
from pathlib import Path

from tests.support.processes import wait_until


class DaskCluster:
    """`workers` one-thread workers (no nanny: a killed worker stays dead) and their scheduler."""

    def __init__(self, folder: Path, workers: int = 2, env: dict[str, str] | None = None) -> None:
        self.folder = folder
        self.env = env or dict(os.environ)
        dask = shutil.which("dask")
        if dask is None:
            raise FileNotFoundError("the `dask` command is not installed: pip install 'attentionviz[dask]'")
        self.dask = dask
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
        self.workers = [self.start_worker(i) for i in range(workers)]
        wait_until(lambda: self.n_workers() == workers, 60, f"{workers} workers")

    def _start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        where = self.folder / name
        where.mkdir(parents=True, exist_ok=True)
        with (where / "log.txt").open("wb") as log:
            return subprocess.Popen(
                [self.dask, *args],
                cwd=where,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def start_worker(self, i: int) -> subprocess.Popen[bytes]:
        where = self.folder / f"worker-{i}"
        args = [
            "worker",
            self.address,
            "--nthreads",
            "1",
            "--no-nanny",
            "--no-dashboard",
            "--host",
            "127.0.0.1",
        ]
        return self._start(where.name, [*args, "--local-directory", str(where)])

    def n_workers(self) -> int:
        from distributed import Client

        with Client(self.address, timeout=10) as client:
            return len(client.nthreads())

    def stop(self) -> None:
        for process in [*self.workers, self.scheduler]:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
