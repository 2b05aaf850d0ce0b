"""How many native threads the reducers of this process may use (a pool runs one process per core)."""

from __future__ import annotations

import os

_THREADS: list[int] = []


def threads() -> int:
    """The cap set by `set_threads`, or every usable core."""
    if _THREADS:
        return _THREADS[-1]
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def set_threads(n: int) -> None:
    """Cap the threads the native reducers (and numpy's BLAS) use in this process."""
    import manifolds_rs
    from threadpoolctl import threadpool_limits

    _THREADS[:] = [max(1, n)]
    manifolds_rs.set_num_threads(max(1, n))
    threadpool_limits(max(1, n))  # BLAS / OpenMP pools of numpy and scipy
