"""Long work stops with its parent, with real processes (issue 14.3): the layout workers of an
`embed` killed with SIGKILL, and `attentionviz demo`'s background embed and its workers when the
demo gets SIGTERM (it used to leave them running) or SIGKILL; the next run resumes."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import attentionviz as av
from tests.support.processes import alive, children, wait_until
from tests.support.synthetic import make_synthetic_run

pytestmark = pytest.mark.slow

ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_layout_workers_stop_when_their_embed_is_killed(tmp_path: Path) -> None:
    run = make_synthetic_run(tmp_path / "run", layers=1, heads=6, tokens=1800, layouts=(), metrics=False)
    command = [sys.executable, "-m", "attentionviz", "embed", str(run.path), "--workers", "2", "--quiet"]
    embed = subprocess.Popen(command, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_until(lambda: len(children(embed.pid)) >= 2, 120, "two layout workers")
        workers = children(embed.pid)
        embed.kill()  # SIGKILL: nothing of the embed runs to stop them
        embed.wait(10)
        wait_until(lambda: not any(alive(p) for p in workers), 10, "the workers to stop with their parent")
    finally:
        with contextlib.suppress(ProcessLookupError):
            embed.kill()
        for pid in children(embed.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    done = subprocess.run(command, env=ENV, capture_output=True, text=True, timeout=600)  # resumes
    assert done.returncode == 0, done.stderr[-2000:]
    assert all(head.fidelity for head in av.open(run.path).heads())


DEMO = re.compile(r"in the background \((\d+) heads to go\)")


def start_demo(cache: Path) -> tuple[subprocess.Popen[str], list[str]]:
    command = [
        sys.executable,
        "-m",
        "attentionviz",
        "demo",
        "--no-open",
        "--port",
        "0",
        "--quiet",
        "--tokens",
        "200",
    ]
    demo = subprocess.Popen(
        command,
        env={**ENV, "ATTENTIONVIZ_CACHE": str(cache)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    assert demo.stdout is not None
    for line in demo.stdout:
        lines.append(line.rstrip())
        if "attentionviz demo: " in line:
            return demo, lines
    raise AssertionError("the demo exited without serving:\n" + "\n".join(lines))


def heads_done(cache: Path) -> int:
    return len(list(cache.glob("runs/*/heads/*/fidelity.json")))


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_the_demo_stops_its_background_work_on_sigterm_and_sigkill_and_resumes(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    demo, lines = start_demo(cache)
    try:
        [to_go] = [int(m[1]) for line in lines for m in [DEMO.search(line)] if m]
        # the background embed and its two workers, and some heads finished
        wait_until(lambda: len(children(demo.pid)) >= 3 and heads_done(cache) > 0, 300, "background layouts")
        below = children(demo.pid)
        demo.send_signal(signal.SIGTERM)  # what a service manager or `kill` sends
        demo.wait(30)
        wait_until(
            lambda: not any(alive(p) for p in below), 10, "the background embed and its workers to stop"
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGKILL)
    finished = heads_done(cache)
    assert 0 < finished < to_go

    demo, lines = start_demo(cache)  # resumes: only the heads not finished are left
    try:
        [left] = [int(m[1]) for line in lines for m in [DEMO.search(line)] if m]
        assert left <= to_go - finished
        wait_until(lambda: len(children(demo.pid)) >= 3, 120, "the background workers")
        below = children(demo.pid)
        os.kill(demo.pid, signal.SIGKILL)  # nothing of the demo runs: the kernel stops its children
        demo.wait(10)
        wait_until(lambda: not any(alive(p) for p in below), 15, "the background work to stop with the demo")
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGKILL)
