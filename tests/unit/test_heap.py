"""While batches run, freed blocks are reused instead of being page-faulted in again (glibc)."""

from __future__ import annotations

import ctypes
import resource

import pytest

from attentionviz.capture.heap import heap_kept
from attentionviz.linux import glibc

BLOCK = 64 << 20  # above glibc's largest mmap threshold: by default always a fresh mmap


def _faults_of_a_fresh_block() -> int:
    """Minor page faults of malloc, write, free of one block (as torch's CPU allocator does)."""
    libc = glibc()
    assert libc is not None
    libc.malloc.restype = ctypes.c_void_p
    libc.free.argtypes = [ctypes.c_void_p]
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(BLOCK)
    ctypes.memset(block, 1, BLOCK)
    libc.free(block)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


@pytest.mark.skipif(glibc() is None, reason="the heap thresholds are glibc's")
def test_a_freed_large_block_is_reused_inside_and_handed_back_after() -> None:
    pages = BLOCK // resource.getpagesize()
    assert _faults_of_a_fresh_block() > pages // 2  # default: every page faults in again
    with heap_kept():
        _faults_of_a_fresh_block()  # grows the heap once
        # the fewest of three: another thread of this process (torch's pool, a server left by an
        # earlier test) may take the freed top of the heap between two calls, once
        assert min(_faults_of_a_fresh_block() for _ in range(3)) < pages // 10
    assert _faults_of_a_fresh_block() > pages // 2  # afterwards it is mmapped and returned again
