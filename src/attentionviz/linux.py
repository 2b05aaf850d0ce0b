"""Linux calls the capture uses for speed; each is a no-op elsewhere (and reports so in its result)."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import sys

_SYNC_FILE_RANGE_WRITE = 2


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
