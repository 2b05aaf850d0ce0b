"""One thread that writes a build's blocks while the model computes the next ones.

The capture thread queues `pwrite` jobs and goes back to the model; this thread writes them in
order. With direct I/O a write costs this thread a wait and costs the CPU nothing (the disk copies
from the buffer), so on a machine with two cores the forward pass keeps both. At most `limit`
bytes are queued: past that, `write` waits, so a slow disk holds the build back instead of
filling memory. Writes through the page cache are not queued here: their copy is CPU work, which
beside the model would stall its two-thread kernels, so the capture thread does it between them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 64 << 20


@dataclass(frozen=True)
class _Write:
    fd: int
    pieces: Sequence[tuple[int, memoryview]]  # (offset, data)
    nbytes: int


class WriteBehind:
    """Writes queued jobs (pieces of one file) in order on its own thread; `then` runs after them."""

    def __init__(self, *, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._jobs: deque[_Write | Callable[[], None] | None] = deque()
        self._queued_bytes = 0
        self._error: BaseException | None = None
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._work, name="attentionviz-writer", daemon=True)
        self._thread.start()

    def write(self, fd: int, pieces: Sequence[tuple[int, memoryview]]) -> None:
        """Queue writes of `(offset, data)` pieces to `fd`, as one job; the data is kept alive until written."""
        if not pieces:
            return
        job = _Write(fd, pieces, sum(data.nbytes for _, data in pieces))
        with self._changed:
            self._changed.wait_for(lambda: self._queued_bytes < self.limit or self._error is not None)
            self._raise_error()
            self._queued_bytes += job.nbytes
            self._jobs.append(job)
            self._changed.notify_all()

    def then(self, action: Callable[[], None]) -> None:
        """Run `action` on the writer thread once every write queued before it is done."""
        with self._changed:
            self._raise_error()
            self._jobs.append(action)
            self._changed.notify_all()

    def drain(self) -> None:
        """Wait until every queued job is done; raise the first error a job met."""
        with self._changed:
            self._changed.wait_for(lambda: not self._jobs or self._error is not None)
            self._raise_error()

    def close(self, *, abandon: bool = False) -> None:
        """Finish the queued jobs (or drop them when `abandon`) and end the thread."""
        with self._changed:
            if abandon:
                self._jobs.clear()
                self._queued_bytes = 0
            self._jobs.append(None)
            self._changed.notify_all()
        self._thread.join()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise OSError(f"writing the run's arrays failed: {self._error}") from self._error

    def _work(self) -> None:
        while True:
            with self._changed:
                self._changed.wait_for(lambda: bool(self._jobs))
                job = self._jobs[0]
            if job is None:
                return
            try:
                if isinstance(job, _Write):
                    self._pwrite(job)
                elif self._error is None:
                    job()
            except BaseException as error:  # handed to the capture thread at its next call
                log.debug("write behind failed", exc_info=True)
                with self._changed:
                    self._error = self._error or error
            with self._changed:
                if self._jobs and self._jobs[0] is job:
                    self._jobs.popleft()
                    if isinstance(job, _Write):
                        self._queued_bytes -= job.nbytes
                self._changed.notify_all()
            del job  # an idle thread must not keep the last buffer alive

    def _pwrite(self, job: _Write) -> None:
        if self._error is not None:
            return
        for offset, data in job.pieces:
            pwrite_all(job.fd, data, offset)


def pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    """Write all of `data` at `offset` (`pwrite` may write less than asked)."""
    while data:
        written = os.pwrite(fd, data, offset)
        data, offset = data[written:], offset + written
