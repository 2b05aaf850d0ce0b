"""Run independent jobs (one per attention head) in parallel, yielding each result as it finishes.

    for job, result in run_jobs(embed_head, jobs, workers=2):            # local processes
    for job, result in run_jobs(embed_head, jobs, cluster="tcp://h:8786"):  # Dask distributed

Local: `workers` worker processes (`jobs.pool`: fresh interpreters that never import the caller's
`__main__`), each with cores // workers native threads; `workers=1` runs the jobs in this
process, one after another. `pick` chooses the next job whenever a worker is free, so the order
can change while the jobs run. Dask: the jobs are submitted to an existing scheduler, in their
order; its workers must have attentionviz installed and see the same run folder (a shared file
system, the same absolute path), because each job reads and writes the run itself. Each task
sets the same thread limit a local worker has: the cores of its machine shared by the Dask
threads on that machine. A cluster that fails, or whose workers have all gone for
`WORKERLESS_GRACE_S`, stops the run with one line; what finished is kept.
`func` must be a module-level function and every job picklable.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import urlparse

from attentionviz.errors import AttentionVizError
from attentionviz.jobs.pool import LocalPool, Pick, next_index

log = logging.getLogger(__name__)

J = TypeVar("J")
R = TypeVar("R")

WORKERLESS_GRACE_S = 15.0  # how long a Dask run waits for a worker once every worker has gone
_POLL_S = 2.0


def usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def run_jobs(
    func: Callable[[J], R],
    jobs: Sequence[J],
    *,
    workers: int | None = None,
    cluster: str | None = None,
    initializer: Callable[[int], None] | None = None,
    pick: Pick | None = None,
) -> Iterator[tuple[J, R]]:
    """Yield (job, func(job)) for every job, in the order they finish.

    `initializer(threads)` runs once in each local worker process (once here for `workers=1`, and
    before each task on Dask) with the number of native threads that process may use. `pick`, given
    the jobs not started yet, returns the index of the one to start next (default: the first).
    """
    if not jobs:
        return
    if cluster:
        yield from _run_dask(func, jobs, cluster, initializer)
        return
    cores = usable_cores()
    workers = min(workers or cores, len(jobs))
    if workers < 1:
        raise AttentionVizError(f"--workers must be at least 1, got {workers}")
    threads = max(1, cores // workers)
    if workers == 1:
        if initializer is not None:
            initializer(threads)
        waiting = list(jobs)
        while waiting:
            job = waiting.pop(next_index(pick, waiting))
            yield job, func(job)
        return
    log.info("running %d jobs on %d local processes (%d threads each)", len(jobs), workers, threads)
    with LocalPool[J, R](workers, threads=threads, initializer=initializer) as pool:
        yield from pool.run(func, jobs, pick=pick)


def _run_dask(
    func: Callable[[J], R], jobs: Sequence[J], address: str, initializer: Callable[[int], None] | None
) -> Iterator[tuple[J, R]]:
    try:
        from distributed import Client, KilledWorker
        from distributed import wait as wait_for
    except ImportError:
        raise AttentionVizError(
            "--cluster needs Dask distributed; install it with `pip install 'attentionviz[dask]'`"
        ) from None
    try:
        client = Client(address, set_as_default=False)  # type: ignore[no-untyped-call]
    except (OSError, TimeoutError) as exc:
        raise AttentionVizError(
            f"cannot reach the Dask scheduler at {address} ({exc}); start one with `dask scheduler` "
            "and `dask worker ADDRESS`, or check the address"
        ) from exc
    log.info("running %d jobs on the Dask cluster at %s", len(jobs), address)
    futures: dict[Any, J] = {}
    try:
        with client.as_current():  # distributed.wait looks for the current client
            with _cluster_errors(address):
                slots = _threads_per_host(client.nthreads())  # type: ignore[no-untyped-call]
                for i, job in enumerate(jobs):
                    future = client.submit(
                        _dask_task, func, job, initializer, slots, pure=False, priority=len(jobs) - i
                    )
                    futures[future] = job
            pending = set(futures)
            workerless_since: float | None = None
            while pending:
                with _cluster_errors(address):
                    try:
                        done, pending = wait_for(  # type: ignore[no-untyped-call]
                            pending, timeout=_POLL_S, return_when="FIRST_COMPLETED"
                        )
                    except TimeoutError:
                        workerless_since = _check_workers(client, address, workerless_since, len(pending))
                        continue
                workerless_since = None
                for future in done:
                    with _cluster_errors(address):
                        failure = future.exception() if future.status == "error" else None
                        result: Any = None if failure is not None else future.result()
                    if isinstance(failure, KilledWorker):
                        raise AttentionVizError(
                            f"the Dask cluster at {address} gave up on {futures[future]}: the workers that "
                            f"ran it died ({type(failure).__name__}); check the workers' memory and logs, "
                            "then run the same command again: what finished is kept"
                        )
                    if failure is not None:  # the job's own error, as a local run would raise it
                        raise failure
                    yield futures[future], result
    finally:
        try:
            with _cluster_errors(address):
                client.cancel(list(futures))  # type: ignore[no-untyped-call]
        except AttentionVizError:
            pass  # the scheduler is gone already
        finally:
            client.close(timeout=5)  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def _cluster_errors(address: str) -> Iterator[None]:
    """A lost scheduler (closed connection, timeout, cancelled futures) as one line."""
    try:
        yield
    except (OSError, TimeoutError, asyncio.CancelledError, concurrent.futures.CancelledError) as exc:
        reason = (str(exc).strip().splitlines() or [""])[0][:160]
        raise AttentionVizError(
            f"lost the Dask scheduler at {address} ({type(exc).__name__}: {reason}); "
            "what finished is kept: restart the cluster and run the same command again"
        ) from None


def _check_workers(client: Any, address: str, since: float | None, left: int) -> float | None:
    """None while the cluster has workers; else when they went, raising once the grace is over."""
    if client.nthreads():
        return None
    now = time.monotonic()
    if since is None:
        log.warning(
            "every worker of the Dask cluster at %s has gone; waiting %.0f s for one",
            address,
            WORKERLESS_GRACE_S,
        )
        return now
    if now - since > WORKERLESS_GRACE_S:
        raise AttentionVizError(
            f"every worker of the Dask cluster at {address} has gone, with {left} jobs left; start "
            f"workers (`dask worker {address}`) and run the same command again: what finished is kept"
        )
    return since


def _threads_per_host(nthreads: dict[str, int]) -> dict[str, int]:
    """{host: Dask threads on that host} from {worker address: its threads}."""
    per_host: dict[str, int] = {}
    for address, threads in nthreads.items():
        host = urlparse(address).hostname or address
        per_host[host] = per_host.get(host, 0) + int(threads)
    return per_host


def _dask_task(
    func: Callable[[J], R], job: J, initializer: Callable[[int], None] | None, slots: dict[str, int]
) -> R:
    """One job on a Dask worker, with the thread limit a local worker would have."""
    if initializer is not None:
        from distributed import get_worker

        worker = get_worker()
        share = slots.get(urlparse(worker.address).hostname or "", 0) or worker.state.nthreads
        initializer(max(1, usable_cores() // max(1, share)))
    return func(job)
