"""Linux calls for speed (the capture) and for child processes that stop with their parent; each
falls back to a portable way, or is a no-op elsewhere (and reports so in its result)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import signal
import sys
import threading
import time

_SYNC_FILE_RANGE_WRITE = 2
_PR_SET_PDEATHSIG = 1
#: a process started with this variable set to its parent's pid stops when that parent ends
#: (`attentionviz` reads it at start; `hosts.demo` sets it on its background embed)
STOP_WITH_PARENT = "ATTENTIONVIZ_STOP_WITH_PARENT"


@functools.cache
def libc() -> ctypes.CDLL | None:
    """The C library on Linux, or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    if hasattr(lib, "sync_file_range"):
        lib.sync_file_range.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    return lib


def glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (whose `mallopt` options we know), or None."""
    lib = libc()
    return lib if lib is not None and hasattr(lib, "gnu_get_libc_version") else None


def start_writeback(fd: int, offset: int, length: int) -> bool:
    """Start writing a file range's dirty pages to disk without waiting (they stay cached).

    A build writes gigabytes; left to the kernel, its dirty pages pile up until every `write`
    is throttled to writeback speed. Starting writeback as each block lands keeps them few.
    """
    lib = libc()
    if lib is None or not hasattr(lib, "sync_file_range"):
        return False
    return bool(lib.sync_file_range(fd, offset, length, _SYNC_FILE_RANGE_WRITE) == 0)


def stop_with_parent(parent: int, sig: int = signal.SIGKILL) -> str:
    """Have the kernel send `sig` to this process when `parent` (the pid that started it) ends.

    On Linux that is `prctl(PR_SET_PDEATHSIG)`, which holds even when the parent is killed with
    SIGKILL; elsewhere a daemon thread checks once a second whether the parent is gone. Either way
    a parent that ended before this call is noticed at once. Returns "prctl" or "watchdog".
    """
    lib = libc()
    how = "watchdog"
    if lib is not None and hasattr(lib, "prctl") and lib.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0:
        how = "prctl"
    else:
        threading.Thread(target=_watch_parent, args=(parent, sig), daemon=True, name="parent-watch").start()
    if os.getppid() != parent:  # the parent ended before the kernel was told
        os.kill(os.getpid(), sig)
    return how


def _watch_parent(parent: int, sig: int) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    os.kill(os.getpid(), sig)


def stop_with_parent_if_asked(sig: int = signal.SIGTERM) -> None:
    """`stop_with_parent` when the environment names this process's parent (`STOP_WITH_PARENT`);
    the variable is removed, so this process's own children are not told the same."""
    value = os.environ.pop(STOP_WITH_PARENT, "")
    if value.isdigit():
        stop_with_parent(int(value), sig)
