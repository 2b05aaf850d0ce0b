"""Where attentionviz keeps what it makes once and reuses: de-quantised models, the trained toy
models (the digits ViT, the induction model), demo runs; and how it makes them once."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path


def cache_root() -> Path:
    """`$ATTENTIONVIZ_CACHE`, else `~/.cache/attentionviz`."""
    env = os.environ.get("ATTENTIONVIZ_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "attentionviz"


def made_once(
    target: Path, complete: Callable[[Path], bool], make: Callable[[Path], object], what: str
) -> Path:
    """`target`, made by `make(folder)` into a temporary folder beside it and renamed into place
    (so an interrupted `make` leaves nothing that looks finished), unless `complete(target)` already.

    Two processes making it at once both finish; the second's copy is dropped.
    """
    import shutil
    import tempfile

    from attentionviz.errors import AttentionVizError

    if complete(target):
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    except OSError as exc:
        raise AttentionVizError(
            f"cannot write the {what} under {target.parent} ({exc.strerror}); set ATTENTIONVIZ_CACHE to a writable folder"
        ) from exc
    try:
        make(staging)
        staging.chmod(0o755)  # mkdtemp made it private; the cache is readable like any download
        try:
            staging.rename(target)
        except OSError:
            if not complete(target):  # not another process finishing first: a real failure
                raise
            shutil.rmtree(staging, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return target


@contextlib.contextmanager
def one_thread_seeded(seed: int) -> Iterator[None]:
    """Train on one thread from a fixed seed (the same result on any machine's thread count),
    leaving the caller's thread count and torch's random state as they were."""
    import torch

    threads = torch.get_num_threads()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(threads)
