"""Progress of the analysis's long steps: the caller's callback, a tqdm bar, or nothing."""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[int, int], None]  # (done, total)


def progress_bar(
    progress: bool | Progress | None, desc: str, unit: str, *, total: int | None = None
) -> tuple[Progress, Callable[[], None]]:
    """(report(done, total), close()): `progress` itself when it is a callback, a tqdm bar on
    stderr when it is True, otherwise calls that do nothing."""
    if callable(progress):
        return progress, lambda: None
    if not progress or total == 0:
        return (lambda done, total: None), lambda: None
    import sys

    from tqdm.auto import tqdm

    bar = tqdm(total=total, desc=desc, unit=unit, file=sys.stderr, dynamic_ncols=True)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.n = done
        bar.refresh()

    return update, bar.close
