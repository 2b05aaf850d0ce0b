"""`attentionviz export RUN -o FILE.html --single-file`: the app and a small run in one HTML file.

The file holds the embedded bundle (the app as one ES module, `hosts/static/embed/`), its
stylesheet, and every file the folder export (`attentionviz.hosts.export.folder.export_site`) writes under
`api/`, base64-encoded in a JSON script tag. The bundle answers the app's requests from that map,
so the file opens from file:// with no server, and shows whatever the folder export shows.
"""

from __future__ import annotations

import base64
import json
import logging
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from attentionviz.errors import AttentionVizError

log = logging.getLogger(__name__)

#: Data above this many bytes (before base64) is refused: browsers open such a file slowly.
SINGLE_FILE_LIMIT = 40_000_000

_LOADER = """\
const text = (id) => document.getElementById(id).textContent;
const code = Uint8Array.from(atob(text("attentionviz-bundle")), (c) => c.charCodeAt(0));
const url = URL.createObjectURL(new Blob([code], { type: "text/javascript" }));
const { mountFiles } = await import(url);
mountFiles(document.getElementById("app"), JSON.parse(text("attentionviz-files")));
"""


@dataclass(frozen=True)
class SingleFileSummary:
    path: Path
    bytes: int
    data_bytes: int
    heads: int

    def __str__(self) -> str:
        return (
            f"exported {self.heads} heads to {self.path} ({self.bytes / 1e6:.1f} MB); "
            "open it in a browser, no server needed"
        )


def embed_bundle() -> tuple[str, str]:
    """The embedded host's (JavaScript, CSS), as built into this install."""
    from attentionviz.hosts.server import STATIC_DIR

    folder = Path(STATIC_DIR) / "embed"
    script, style = folder / "attentionviz.js", folder / "attentionviz.css"
    if not script.exists() or not style.exists():
        raise AttentionVizError(
            "the embedded web app is not built into this install; reinstall attentionviz, or run "
            "`npm ci && npm run build` in frontend/"
        )
    return script.read_text(encoding="utf-8"), style.read_text(encoding="utf-8")


def export_single_file(
    runs: str | Path | Sequence[str | Path],
    out: str | Path,
    *,
    layers: Iterable[int] | None = None,
    heads: Iterable[int] | None = None,
    layouts: Iterable[str] | None = None,
    overwrite: bool = False,
    limit: int = SINGLE_FILE_LIMIT,
) -> SingleFileSummary:
    """Write the run(s) `runs` (as `export_site` takes them) as one HTML file `out`; refuse when its data exceeds `limit` bytes."""
    from attentionviz.hosts.export.folder import export_site

    target = Path(out).expanduser()
    if target.exists() and not overwrite:
        raise AttentionVizError(f"{target} exists; pick a new file name or pass --overwrite")
    if target.is_dir():
        raise AttentionVizError(f"{target} is a folder; --single-file writes one HTML file, e.g. -o run.html")
    script, style = embed_bundle()
    with tempfile.TemporaryDirectory(prefix="attentionviz-export-") as tmp:
        site = Path(tmp) / "site"
        api = site / "api"

        def check(done: int, total: int, written: int) -> None:
            if written > limit:
                raise AttentionVizError(
                    f"the run's data passes {limit / 1e6:.0f} MB after {done} of {total} files, too big "
                    "for one HTML file; keep fewer heads with --layers/--heads/--layouts, or drop "
                    "--single-file to write a folder"
                )

        summary = export_site(runs, site, layers=layers, heads=heads, layouts=layouts, progress=check)
        files = {
            path.relative_to(site).as_posix(): base64.b64encode(path.read_bytes()).decode("ascii")
            for path in sorted(api.rglob("*"))
            if path.is_file()
        }
        data_bytes = _folder_bytes(api)
    names = [Path(runs).name] if isinstance(runs, str | Path) else [Path(r).name for r in runs]
    html = _page(", ".join(names), script, style, files)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    partial.write_text(html, encoding="utf-8")
    partial.replace(target)
    log.info("exported %s: %d bytes (%d of data)", target, len(html), data_bytes)
    return SingleFileSummary(target, len(html.encode()), data_bytes, summary.heads)


def _folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


def _page(title: str, script: str, style: str, files: dict[str, str]) -> str:
    # "<" escaped so that no "</script>" inside the data can end its tag early
    data = json.dumps(files, separators=(",", ":")).replace("<", "\\u003c")
    bundle = base64.b64encode(script.encode("utf-8")).decode("ascii")
    css = style.replace("</", "<\\/")
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>attentionviz: {_escape(title)}</title>\n"
        '<link rel="icon" href="data:,">\n'
        # the page is the app's (the bundle's stylesheet styles the app only, as in a notebook)
        f"<style>html,body{{margin:0;height:100%}}\n{css}</style>\n</head>\n<body>\n"
        '<div id="app"></div>\n'
        f'<script type="application/json" id="attentionviz-files">{data}</script>\n'
        f'<script type="text/plain" id="attentionviz-bundle">{bundle}</script>\n'
        f'<script type="module">\n{_LOADER}</script>\n</body>\n</html>\n'
    )


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
