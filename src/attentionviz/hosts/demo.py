"""`attentionviz demo`: a run of a bundled model, built once and cached, served at once.

Only the capture and the PCA layouts (a second for 72 heads) are made before the server starts, so
the Matrix View is usable immediately; everything else (t-SNE, UMAP, each layout's quality, the
heads' fidelity and metrics: minutes) is computed by a background `attentionviz embed` process,
at low priority, while the server runs. That process records the layouts it is computing in the
run folder, so the app keeps polling and picks up each head as its files land (each is written
atomically). The background process first makes every head's coarse t-SNE and UMAP (on its
level-of-detail sample: the whole Matrix View in seconds), then refines each to full resolution.
A second `demo` finds the run in the cache and only starts the server (and the background process
again, when it was stopped before it finished).

The queue follows what the user looks at while the server stays read-only: the demo host (not the
server) watches the requests it serves, and when the app asks for one head's details (the Single
View opening a head) it records that head in the run's `focus.json`, which the background embed
reads before it starts each job: the opened head is refined next.

Ctrl-C or SIGTERM stops the server, the background process and its workers; so does the demo's
death by any signal (the background process and its workers stop with their parent,
`linux.stop_with_parent`). The next `demo` resumes what they had not finished.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
import webbrowser
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attentionviz.cache import cache_root
from attentionviz.errors import AttentionVizError
from attentionviz.linux import STOP_WITH_PARENT

log = logging.getLogger(__name__)

DEMO_TOKENS = 2500  # as in the original's hosted demo (~2.5k tokens, ~85 sentences)
DEMO_IMAGES = 64  # held-out digit images for `--images`
DEMO_MODELS = ("minilm", "smollm2")
BACKGROUND_NICENESS = 10


@dataclass(frozen=True)
class DemoRun:
    path: Path
    note: str  # one line about the model (the digits ViT's accuracy), or ""


def demo_run_dir(model: str, tokens: int = DEMO_TOKENS) -> Path:
    return cache_root() / "runs" / f"demo-{model}-wikipedia-{tokens}"


def images_run_dir(n: int = DEMO_IMAGES) -> Path:
    return cache_root() / "runs" / f"demo-digits-vit-{n}"


def build_demo(model: str = "minilm", *, tokens: int = DEMO_TOKENS, progress: bool = True) -> Path:
    """Build (or reuse) the demo run for `model` on the bundled Wikipedia summaries, with PCA layouts."""
    from attentionviz.api import build

    if model not in DEMO_MODELS:
        raise AttentionVizError(
            f"the demo runs {' or '.join(DEMO_MODELS)}, not {model!r}; use `attentionviz build` for others"
        )
    if tokens < 1:
        raise AttentionVizError(f"the demo needs at least 1 token, not {tokens}; pass --tokens 2500")
    out = demo_run_dir(model, tokens)
    if not _captured(out):
        start = time.perf_counter()
        build(model, "wikipedia", out=out, max_tokens=tokens, seed=0, layouts=(), progress=progress)
        log.info(
            "demo: loaded %s and captured %d tokens in %.1f s", model, tokens, time.perf_counter() - start
        )
    _first_layouts(out, progress=progress)
    return out


def build_images_demo(*, n: int = DEMO_IMAGES, progress: bool = True) -> DemoRun:
    """Build (or reuse) a run of the digits ViT (trained once, cached) on `n` held-out digit images."""
    from attentionviz.api import build
    from attentionviz.vision.digits import ALIAS, digits_images, digits_vit, training_report

    model = digits_vit()
    report = training_report(model)
    out = images_run_dir(n)
    if not _captured(out):
        start = time.perf_counter()
        images = digits_images(cache_root() / "demo-images" / f"digits-{n}", n=n)
        build(ALIAS, images, out=out, seed=0, layouts=(), progress=progress)
        log.info("demo: captured %d digit images in %.1f s", n, time.perf_counter() - start)
    _first_layouts(out, progress=progress)
    note = f"digits ViT: {100 * report['accuracy']:.1f}% test accuracy on {report['n_test']} held-out digits"
    return DemoRun(out, note)


def _captured(run_dir: Path) -> bool:
    """Whether `run_dir` is a finished capture (no model load needed)."""
    from attentionviz.store.reader import Run

    try:
        Run(run_dir)
    except AttentionVizError:
        return False
    return True


def _first_layouts(run_dir: Path, *, progress: bool) -> None:
    """PCA (2D and 3D) of every head that lacks it; nothing else (the background process adds the rest)."""
    from attentionviz.embed.pipeline import embed_quick

    start = time.perf_counter()
    embed_quick(run_dir, seed=0, progress=progress)
    log.info("demo: PCA layouts of every head ready in %.1f s", time.perf_counter() - start)


def layouts_missing(run_dir: Path) -> int:
    """How many heads still lack one of the build's default layouts (or have it only coarse)."""
    from attentionviz.embed.pipeline import head_complete, select_heads
    from attentionviz.embed.plan import feasible, plan_layouts
    from attentionviz.store.reader import Run

    run = Run(run_dir)
    plan, _ = feasible(plan_layouts(), run.info.n_tokens)
    return sum(not head_complete(run, layer, head, plan) for layer, head in select_heads(run, None))


def start_background_layouts(run_dir: Path) -> subprocess.Popen[bytes] | None:
    """Start `attentionviz embed RUN` in a child process (None when every head is done already).

    Its messages go to `<cache>/logs/<run>.embed.log`; it is a separate process, at a lower priority,
    so the server and the browser stay responsive while it uses every core.
    """
    from attentionviz.embed.plan import feasible, plan_layouts
    from attentionviz.store.head_outputs import write_pending
    from attentionviz.store.reader import Run

    if layouts_missing(run_dir) == 0:
        return None
    # said before the server starts (the child takes seconds to start), so the app polls from the first page
    write_pending(run_dir, list(feasible(plan_layouts(), Run(run_dir).info.n_tokens)[0]))
    logs = cache_root() / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    with (logs / f"{run_dir.name}.embed.log").open("ab") as log_file:
        command = [sys.executable, "-m", "attentionviz", "embed", str(run_dir), "--quiet"]
        process = subprocess.Popen(
            command,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped with its pool workers, below
            env={**os.environ, STOP_WITH_PARENT: str(os.getpid())},  # and by the kernel if this process dies
        )
    if hasattr(os, "setpriority"):  # before it starts its workers (they inherit it): seconds of imports away
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, process.pid, BACKGROUND_NICENESS)
    return process


def stop_background(process: subprocess.Popen[bytes]) -> None:
    """End the background embed and its worker processes (finished heads are kept; a rerun resumes)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            continue
        try:  # the leader is gone; give its workers a moment, then make sure
            os.killpg(process.pid, 0)
        except ProcessLookupError:
            return


def run_demo(
    model: str = "minilm",
    *,
    images: bool = False,
    tokens: int = DEMO_TOKENS,
    host: str = "127.0.0.1",
    port: int = 8000,
    open_browser: bool = True,
    progress: bool = True,
    say: Callable[[str], None] = print,
) -> None:
    """Build (or reuse) the demo run with its PCA layouts, then serve it until interrupted.

    The remaining layouts are computed in a background process started before serving and
    stopped when the server stops, by Ctrl-C or SIGTERM (rerun `demo` to finish them: finished
    heads are kept).
    """
    log.info("demo: started; cache %s", cache_root())
    with _sigterm_interrupts():
        if images:
            demo = build_images_demo(progress=progress)
        else:
            demo = DemoRun(build_demo(model, tokens=tokens, progress=progress), "")
        _serve_demo(demo, host=host, port=port, open_browser=open_browser, say=say)


def _serve_demo(
    demo: DemoRun, *, host: str, port: int, open_browser: bool, say: Callable[[str], None]
) -> None:
    from attentionviz.hosts.serve import is_loopback
    from attentionviz.hosts.server import bind, create_app, serve, url_of
    from attentionviz.readmodel.registry import RunRegistry
    from attentionviz.store.head_outputs import clear_pending

    if demo.note:
        say(demo.note)
    registry = RunRegistry([demo.path])
    app = create_app(registry)
    app.add_middleware(FollowOpenedHeads, run_id=registry.ids()[0], run_dir=demo.path)
    sock = bind(host, port)
    url = f"{url_of(sock)}?run={registry.ids()[0]}"
    background = start_background_layouts(demo.path)
    try:
        if background is not None:
            say(
                f"computing t-SNE and UMAP layouts in the background ({layouts_missing(demo.path)} heads to go); "
                "the Matrix View shows PCA now and fills in"
            )
        say(f"attentionviz demo: {demo.path.name} at {url}")
        if not is_loopback(host):
            say(f"warning: listening on {host}, reachable from other machines without authentication")
        say("press Ctrl+C to stop")
        if open_browser:
            threading.Timer(0.5, webbrowser.open, args=(url,)).start()
        serve(app, sock)
    except KeyboardInterrupt:
        say("stopped")
    finally:
        sock.close()
        if background is not None:
            stop_background(background)
            clear_pending(demo.path)  # what it finished is kept; the next `demo` goes on from there


@contextlib.contextmanager
def _sigterm_interrupts() -> Iterator[None]:
    """SIGTERM stops the demo as Ctrl-C does, so its background work is stopped too.

    (Left to its default, SIGTERM ends the process at once; uvicorn, which catches it while it
    serves, raises it again once the server has stopped.)"""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class FollowOpenedHeads:
    """ASGI middleware: when the app asks for one head's details (the Single View opened it),
    record that head in the run's `focus.json`, so the background embed refines it next.

    The demo host owns both the server and the background embed; the server itself stays
    read-only (GET routes that change nothing)."""

    def __init__(self, app: Any, *, run_id: str, run_dir: Path) -> None:
        from attentionviz.readmodel.routes import HEAD

        self.app = app
        self.run_dir = run_dir
        pattern = re.escape("/api" + HEAD).replace(re.escape("{run}"), re.escape(run_id))
        pattern = pattern.replace(re.escape("{layer}"), r"(\d+)").replace(re.escape("{head}"), r"(\d+)")
        self.head_path = re.compile(pattern + "$")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope.get("method") == "GET":
            found = self.head_path.match(scope.get("path", ""))
            if found and len(found[1]) < 6 and len(found[2]) < 6:
                from attentionviz.store.head_outputs import write_focus

                with contextlib.suppress(OSError):
                    write_focus(self.run_dir, int(found[1]), int(found[2]))
        await self.app(scope, receive, send)
