"""`attentionviz export`: runs as a static site (a folder) or as one HTML file."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from attentionviz.hosts.export.folder import ExportSummary, export_site
from attentionviz.hosts.export.single_file import SingleFileSummary, export_single_file

__all__ = ["ExportSummary", "SingleFileSummary", "export", "export_single_file", "export_site"]


def export(
    runs: str | Path | Sequence[str | Path],
    out: str | Path,
    *,
    layers: Iterable[int] | None = None,
    heads: Iterable[int] | None = None,
    layouts: Iterable[str] | None = None,
    overwrite: bool = False,
    single_file: bool = False,
) -> ExportSummary | SingleFileSummary:
    """Write the run(s) as a static site in the folder `out`, or as the one HTML file `out`."""
    write = export_single_file if single_file else export_site
    return write(runs, out, layers=layers, heads=heads, layouts=layouts, overwrite=overwrite)
