"""Run independent jobs (one per attention head) in parallel, yielding each result as it finishes.

    for job, result in run_jobs(embed_head, jobs, workers=2):            # local processes
    for job, result in run_jobs(embed_head, jobs, cluster="tcp://h:8786"):  # Dask distributed

Local: a process pool of `workers` processes ("spawn", so no thread pool is forked half-way), each
with cores // workers native threads; `workers=1` runs the jobs in this process, one after
another. Dask: the jobs are submitted to an existing scheduler; its workers must have attentionviz
installed and see the same run folder (a shared file system), because each job reads and writes
the run itself. `func` must be a module-level function and every job picklable.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import TypeVar

from attentionviz.errors import AttentionVizError

log = logging.getLogger(__name__)

J = TypeVar("J")
R = TypeVar("R")


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
) -> Iterator[tuple[J, R]]:
    """Yield (job, func(job)) for every job, in the order they finish.

    `initializer(threads)` runs once in each local worker process (and once here for `workers=1`)
    with the number of native threads that process may use.
    """
    if not jobs:
        return
    if cluster:
        yield from _run_dask(func, jobs, cluster)
        return
    cores = usable_cores()
    workers = min(workers or cores, len(jobs))
    if workers < 1:
        raise AttentionVizError(f"--workers must be at least 1, got {workers}")
    threads = max(1, cores // workers)
    if workers == 1:
        if initializer is not None:
            initializer(threads)
        for job in jobs:
            yield job, func(job)
        return
    yield from _run_local(func, jobs, workers=workers, threads=threads, initializer=initializer)


def _run_local(
    func: Callable[[J], R],
    jobs: Sequence[J],
    *,
    workers: int,
    threads: int,
    initializer: Callable[[int], None] | None,
) -> Iterator[tuple[J, R]]:
    log.info("running %d jobs on %d local processes (%d threads each)", len(jobs), workers, threads)
    executor = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=functools.partial(initializer, threads) if initializer is not None else None,
    )
    pending: dict[Future[R], J] = {}
    try:
        for job in jobs:
            pending[executor.submit(func, job)] = job
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                job = pending.pop(future)
                yield job, future.result()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


def _run_dask(func: Callable[[J], R], jobs: Sequence[J], address: str) -> Iterator[tuple[J, R]]:
    try:
        from distributed import Client, as_completed
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
    try:
        futures = {client.submit(func, job, pure=False): job for job in jobs}
        try:
            for future in as_completed(futures, loop=client.loop):  # type: ignore[no-untyped-call]
                yield futures[future], future.result()
        finally:
            client.cancel(list(futures))  # type: ignore[no-untyped-call]
    finally:
        client.close()  # type: ignore[no-untyped-call]
