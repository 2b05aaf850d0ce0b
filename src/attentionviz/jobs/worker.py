"""The entry point of a local worker process: `python -m attentionviz.jobs.worker READ WRITE PARENT`.

A worker is started by `jobs.pool.LocalPool` as a fresh interpreter running this module, never
by `multiprocessing`: it imports nothing of the program that started it (no `__main__` of a
script, of standard input or of a notebook is re-run), only what the functions it is handed need.

It reads messages from the pipe `READ` and answers on `WRITE` (`multiprocessing.connection`
framing, pickled objects):

    ["sys.path", ...]                       the parent's import path (so its functions unpickle)
    ("setup", initializer, threads)   ->    ("done", None)
    ("job", func, job)                ->    ("done", func(job)) or ("failed", exception, traceback)

It stops when the parent closes `READ`, and the kernel stops it when the parent process ends,
however it ends (`linux.stop_with_parent`). Ctrl-C in a terminal reaches the whole process
group: a worker ignores it and leaves the stopping to its parent.
"""

from __future__ import annotations

import pickle
import signal
import sys
import traceback
from multiprocessing.connection import Connection
from typing import Any


def main(argv: list[str]) -> int:
    from attentionviz.linux import stop_with_parent

    read_fd, write_fd, parent = (int(arg) for arg in argv)
    stop_with_parent(parent)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inbox = Connection(read_fd, writable=False)
    outbox = Connection(write_fd, readable=False)
    try:
        path = inbox.recv()
    except EOFError:
        return 0
    sys.path[:] = [*path, *(entry for entry in sys.path if entry not in path)]
    while True:
        try:
            message = inbox.recv()
        except EOFError:
            return 0
        outbox.send(_answer(message))


def _answer(message: tuple[Any, ...]) -> tuple[Any, ...]:
    kind, func, argument = message
    try:
        result = func(argument)
    except Exception as exc:
        return ("failed", _picklable(exc), traceback.format_exc())
    return ("done", None if kind == "setup" else result)


def _picklable(exc: Exception) -> Exception:
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return RuntimeError(f"{type(exc).__name__}: {exc}")
    return exc


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
