"""The runs a server shows: run folders named on the command line, or every run inside a folder.

A folder of runs is rescanned on every listing, so runs that finish while the server is up
appear; a run whose manifest changes (rebuilt) is reopened.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from attentionviz.errors import RunNotFound
from attentionviz.store import names
from attentionviz.store.reader import Run

log = logging.getLogger(__name__)


class RunRegistry:
    """Maps short run ids (folder names, made unique) to open runs."""

    def __init__(self, paths: Sequence[str | Path]) -> None:
        if not paths:
            raise RunNotFound(
                "no run given; pass a run folder (or a folder of runs) made by `attentionviz build`"
            )
        self.paths = [Path(p).expanduser().resolve() for p in paths]
        self._lock = threading.Lock()
        self._open: dict[Path, tuple[int, Run]] = {}
        self._ids: dict[str, Path] = {}
        for path in self.paths:
            if not path.is_dir():
                raise RunNotFound(f"{path} does not exist; pass a run folder made by `attentionviz build`")
            if not _is_run(path) and not _runs_inside(path):
                Run(path)  # raises the store's own explanation (unfinished build, not a run, ...)
        self.refresh()
        for run_dir in self._ids.values():
            Run(run_dir)  # a run of an older schema: the one-line error that names `attentionviz upgrade`
        if not self._ids:
            raise RunNotFound(
                f"no finished run in {', '.join(map(str, self.paths))}; build one with `attentionviz build`"
            )

    def refresh(self) -> list[str]:
        """Rescan the folders; returns the run ids in display order."""
        found: list[Path] = []
        for path in self.paths:
            found.extend([path] if _is_run(path) else _runs_inside(path))
        ids: dict[str, Path] = {}
        for run_dir in found:
            base = run_dir.name
            run_id, n = base, 2
            while run_id in ids and ids[run_id] != run_dir:
                run_id, n = f"{base}-{n}", n + 1
            ids[run_id] = run_dir
        with self._lock:
            self._ids = ids
        return list(ids)

    def ids(self) -> list[str]:
        return list(self._ids)

    def id_of(self, path: str | Path) -> str:
        """The id of the run at `path` (one of the runs this registry shows)."""
        wanted = Path(path).expanduser().resolve()
        for run_id, run_dir in self._ids.items():
            if run_dir == wanted:
                return run_id
        raise RunNotFound(f"{path} is not one of the runs shown here ({', '.join(self._ids)})")

    def get(self, run_id: str) -> Run:
        path = self._ids.get(run_id)
        if path is None:
            self.refresh()
            path = self._ids.get(run_id)
        if path is None:
            known = ", ".join(self._ids) or "none"
            shown = run_id if len(run_id) <= 80 else run_id[:80] + "..."
            raise RunNotFound(f"no run named {shown!r} on this server; runs: {known}")
        stamp = (path / names.MANIFEST).stat().st_mtime_ns
        with self._lock:
            cached = self._open.get(path)
            if cached is None or cached[0] != stamp:
                log.info("opening run %s", path)
                cached = (stamp, Run(path))
                self._open[path] = cached
        return cached[1]


def _is_run(path: Path) -> bool:
    return (path / names.MANIFEST).is_file()


def _runs_inside(path: Path) -> list[Path]:
    return sorted(p for p in path.iterdir() if p.is_dir() and not p.name.endswith(".partial") and _is_run(p))
