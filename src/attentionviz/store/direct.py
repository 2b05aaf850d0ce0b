"""Direct I/O for the capture's arrays: aligned buffers, a probe, and the sectors between blocks.

A buffered `pwrite` copies every byte into the page cache, and the kernel writes it out from
there: on the 2-core VM we build on, SmolLM2's 132 kB per token made capturing 50k tokens 14.5%
slower than the plain forward pass that way, and 2-3% slower with `O_DIRECT`, where the disk reads
the buffer itself and the CPU is left to the model (benchmarks/capture.py). `O_DIRECT` asks that
the buffer's address, the file offset and the length be multiples of the block size, while a
batch's block of one head is a byte range that starts and ends anywhere.
So its whole sectors go out directly, and the partial sectors at its two ends wait here until the
neighbouring blocks fill them in (or, when the build ends, the rest is read back from the file).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

ALIGN = 4096  # a multiple of every disk's logical block size, and the page size
SETTING = "ATTENTIONVIZ_DIRECT_IO"  # "0": never; "1": for every array, whatever its block size


def always() -> bool:
    """Whether `$ATTENTIONVIZ_DIRECT_IO` asks for direct I/O even for small blocks."""
    return os.environ.get(SETTING) == "1"


def aligned_empty(nbytes: int, *, align: int = ALIGN) -> np.ndarray:
    """An uninitialised uint8 buffer of `nbytes` whose address is a multiple of `align`."""
    raw = np.empty(nbytes + align, dtype=np.uint8)
    shift = -raw.ctypes.data % align
    return raw[shift : shift + nbytes]


def direct_io_works(folder: Path) -> bool:
    """Whether files in `folder` take aligned `O_DIRECT` writes (not on tmpfs, macOS, some FUSE)."""
    flag = getattr(os, "O_DIRECT", 0)
    if not flag or os.environ.get(SETTING) == "0":
        return False
    probe = folder / ".direct-io-probe"
    try:
        fd = os.open(probe, os.O_RDWR | os.O_CREAT | os.O_TRUNC | flag, 0o600)
        try:
            block = aligned_empty(ALIGN)
            block[:] = 0
            return os.pwrite(fd, block.data, 0) == ALIGN
        finally:
            os.close(fd)
    except OSError as error:
        log.debug("direct I/O unavailable in %s: %s", folder, error)
        return False
    finally:
        probe.unlink(missing_ok=True)


@dataclass
class Sector:
    """One aligned sector that blocks have filled only in part, so far."""

    data: np.ndarray  # [align] uint8, aligned
    filled: list[tuple[int, int]] = field(default_factory=list)  # byte ranges within the sector

    def gaps(self) -> list[tuple[int, int]]:
        """The byte ranges no block has filled yet."""
        gaps, at = [], 0
        for start, end in sorted(self.filled):
            if start > at:
                gaps.append((at, start))
            at = max(at, end)
        if at < self.data.size:
            gaps.append((at, self.data.size))
        return gaps


class PartialSectors:
    """The sectors of one file that are partly filled: each is written once it is whole."""

    def __init__(self, align: int) -> None:
        self.align = align
        self.sectors: dict[int, Sector] = {}

    def fill(self, offset: int, data: memoryview) -> np.ndarray | None:
        """Copy `data` (within one sector) to `offset`; return the sector's bytes once it is whole."""
        index, within = divmod(offset, self.align)
        sector = self.sectors.get(index)
        if sector is None:
            sector = self.sectors[index] = Sector(aligned_empty(self.align, align=self.align))
        sector.data[within : within + data.nbytes] = np.frombuffer(data, dtype=np.uint8)
        sector.filled.append((within, within + data.nbytes))
        if sector.gaps():
            return None
        del self.sectors[index]
        return sector.data
