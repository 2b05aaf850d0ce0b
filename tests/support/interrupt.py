"""Kill -9 a command once its progress reaches a target: the resume tests' one way to interrupt."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable


def kill_when(
    command: list[str],
    *,
    progress: Callable[[], int],
    target: int,
    busy_seconds: float = 0.0,
    env: dict[str, str] | None = None,
    timeout: float = 240,
) -> bool:
    """Start `command`, wait until `progress()` reaches `target`, spin `busy_seconds` more, then SIGKILL it.

    Returns whether the process was killed (False: it finished first).
    """
    process = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + timeout
    while progress() < target and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    busy_until = time.perf_counter() + busy_seconds  # a busy wait lands anywhere inside the next step
    while time.perf_counter() < busy_until and process.poll() is None:
        pass
    killed = process.poll() is None
    if killed:
        os.kill(process.pid, signal.SIGKILL)
    process.wait()
    return killed
