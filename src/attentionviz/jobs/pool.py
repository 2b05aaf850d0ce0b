"""Local worker processes that never import the caller's `__main__`.

    with LocalPool(2, threads=1, initializer=set_threads) as pool:
        for job, result in pool.run(embed_head, jobs, pick=None):
            ...

`multiprocessing`'s "spawn" and "forkserver" start methods re-run the main module of the program
in every worker: a script without `if __name__ == "__main__":` then starts workers from its
workers (`RuntimeError: ... bootstrapping phase`), and code piped to `python -` cannot be re-read
at all. "fork" copies a process whose threads (BLAS, torch) may hold locks. So each worker here is
a fresh interpreter running `attentionviz.jobs.worker`, fed pickled jobs through a pipe: it works
the same from a script, standard input, IPython or a notebook.

Each worker holds one job at a time; the next one is chosen when a worker is free (`pick`), so the
order can follow what a user looks at. A worker stops with its parent however the parent ends
(`linux.stop_with_parent`), and the pool ends its workers when it is closed, on any error, or when
the caller stops iterating (Ctrl-C).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, Generic, TypeVar

from attentionviz.errors import AttentionVizError

log = logging.getLogger(__name__)

J = TypeVar("J")
R = TypeVar("R")

Pick = Callable[[Sequence[Any]], int]  # the jobs not started yet -> the index of the next one


class _Worker:
    def __init__(self) -> None:
        to_worker = os.pipe()  # (read, write)
        from_worker = os.pipe()
        package_root = str(Path(__file__).resolve().parents[2])  # the folder holding `attentionviz`
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH", "")]))
        try:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "attentionviz.jobs.worker",
                    str(to_worker[0]),
                    str(from_worker[1]),
                    str(os.getpid()),
                ],
                pass_fds=(to_worker[0], from_worker[1]),
                stdin=subprocess.DEVNULL,
                env=env,
            )
        finally:
            os.close(to_worker[0])
            os.close(from_worker[1])
        self.outbox = Connection(to_worker[1], readable=False)
        self.inbox = Connection(from_worker[0], writable=False)
        self.outbox.send(list(sys.path))

    def send(self, kind: str, func: Callable[[Any], Any], argument: Any) -> None:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # it died: `receive` says so
            self.outbox.send((kind, func, argument))

    def receive(self, doing: str) -> Any:
        try:
            kind, *answer = self.inbox.recv()
        except (EOFError, ConnectionResetError):
            raise AttentionVizError(
                f"a worker process {self._ended()} while {doing}; what is finished is kept: "
                "run the same command again to resume"
            ) from None
        if kind == "failed":
            exc, worker_traceback = answer
            exc.add_note(f"in a worker process, while {doing}:\n{worker_traceback}")
            raise exc
        return answer[0]

    def _ended(self) -> str:
        try:
            code = self.process.wait(5)
        except subprocess.TimeoutExpired:
            return "stopped answering"
        if code < 0:
            name = signal.Signals(-code).name
            return f"was killed ({name}{', perhaps out of memory' if name == 'SIGKILL' else ''})"
        return f"exited with code {code}"

    def stop(self, *, wait_first: bool) -> None:
        for conn in (self.outbox, self.inbox):
            conn.close()
        if wait_first:  # idle: it ends when it reads the end of its pipe
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(10)
                return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(5)
                return


class LocalPool(Generic[J, R]):
    """`workers` worker processes, each set up with `initializer(threads)`."""

    def __init__(
        self, workers: int, *, threads: int, initializer: Callable[[int], None] | None = None
    ) -> None:
        self.workers: list[_Worker] = []
        self.busy: dict[_Worker, Any] = {}
        try:
            for _ in range(workers):
                self.workers.append(_Worker())
            if initializer is not None:
                for worker in self.workers:
                    worker.send("setup", initializer, threads)
                for worker in self.workers:
                    worker.receive("starting")
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> LocalPool[J, R]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def run(
        self, func: Callable[[J], R], jobs: Sequence[J], *, pick: Pick | None = None
    ) -> Iterator[tuple[J, R]]:
        """Yield (job, func(job)) as each finishes; a job's exception is raised here."""
        waiting = list(jobs)
        idle = list(self.workers)
        self._start(func, waiting, idle, pick)
        while self.busy:
            by_inbox = {worker.inbox: worker for worker in self.busy}
            finished: list[tuple[J, R]] = []
            for inbox in wait(list(by_inbox)):
                worker = by_inbox[inbox]  # type: ignore[index]
                result = worker.receive(f"running {self.busy[worker]}")
                finished.append((self.busy.pop(worker), result))
                idle.append(worker)
            self._start(func, waiting, idle, pick)  # the workers go on while the caller takes the results
            yield from finished

    def _start(
        self, func: Callable[[J], R], waiting: list[J], idle: list[_Worker], pick: Pick | None
    ) -> None:
        while idle and waiting:
            job = waiting.pop(next_index(pick, waiting))
            worker = idle.pop()
            worker.send("job", func, job)
            self.busy[worker] = job

    def close(self) -> None:
        """End every worker: idle ones when they read the end of their pipe, busy ones by signal."""
        for worker in self.workers:
            worker.stop(wait_first=worker not in self.busy)
        self.workers = []
        self.busy = {}


def next_index(pick: Pick | None, waiting: Sequence[Any]) -> int:
    """The index of the job to start next: `pick`'s choice, or the first."""
    if pick is None:
        return 0
    index = pick(waiting)
    if not 0 <= index < len(waiting):
        raise ValueError(f"pick chose job {index} of {len(waiting)}")
    return index
